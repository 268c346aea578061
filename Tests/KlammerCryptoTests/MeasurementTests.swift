import Foundation
import Testing
@testable import KlammerCrypto

/// Prints throughput numbers (no timing assertions: the machine is shared). Run with
/// `swift test -c release --filter KlammerCryptoTests.MeasurementTests` for meaningful values.
@Suite struct MeasurementTests {
    static func measure(_ label: String, iterations: Int, _ body: () throws -> Void) rethrows {
        let clock = ContinuousClock()
        let elapsed = try clock.measure { for _ in 0..<iterations { try body() } }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let perOp = seconds / Double(iterations) * 1e6
        print("[measure] \(label): \(String(format: "%.1f", perOp)) µs/op, \(String(format: "%.0f", 1e6 / perOp)) ops/s (\(iterations) iterations)")
    }

    @Test(arguments: [KeyKind.p256, .p384, .brainpoolP256r1, .rsa(bits: 3072)])
    func signAndVerifyThroughput(kind: KeyKind) throws {
        let key = try PrivateKey.generate(kind)
        let pub = key.publicKey
        let data = [UInt8](repeating: 0x42, count: 1024)
        let signature = try key.sign(data)
        try Self.measure("\(kind) sign 1 KiB", iterations: 100) { _ = try key.sign(data) }
        Self.measure("\(kind) verify 1 KiB", iterations: 100) { #expect(pub.verify(signature: signature, for: data)) }
    }

    @Test func chainVerificationThroughput() throws {
        let ca = Fixtures.ca
        let leaf = try ca.issue(commonName: "m", publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client)
        let store = TrustStore(anchors: [ca.certificate], crls: [try ca.makeCRL(revoked: [])])
        try Self.measure("TrustStore.verify P-256 leaf with CRL", iterations: 200) { try store.verify(leaf) }
    }
}
