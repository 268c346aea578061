// klammer-crypto-bench: signature, certificate-chain and CMS throughput of KlammerCrypto, printed. Not a test: the
// numbers depend on the machine (and on everybody else's load on a shared one), so nothing is asserted. These used to
// be the print-only MeasurementTests and CMSTests.verifyThroughputP256WithoutEmbeddedCertificate, which ran (slowly,
// in debug) in every test run and could not fail.
//   swift build -c release --product klammer-crypto-bench && .build/release/klammer-crypto-bench
import Foundation
import KlammerCrypto

/// Runs `body` `iterations` times and prints µs per operation and operations per second.
func measure(_ label: String, iterations: Int, _ body: () throws -> Void) rethrows {
    let clock = ContinuousClock()
    let elapsed = try clock.measure { for _ in 0..<iterations { try body() } }
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let perOp = seconds / Double(iterations) * 1e6
    print("\(label): \(String(format: "%.1f", perOp)) µs/op, \(String(format: "%.0f", 1e6 / perOp)) ops/s (\(iterations) iterations)")
}

/// A verification that fails is a broken build, not a number: stop with what failed.
func check(_ condition: Bool, _ what: String) {
    guard condition else {
        FileHandle.standardError.write(Data("klammer-crypto-bench: \(what) failed; the numbers above are meaningless.\n".utf8))
        exit(1)
    }
}

let ca = try CertificateAuthority.create(commonName: "Klammer Bench CA", organization: "Land Berlin")

// Sign and verify 1 KiB with each key kind participants use.
for kind in [KeyKind.p256, .p384, .brainpoolP256r1, .rsa(bits: 3072)] {
    let key = try PrivateKey.generate(kind)
    let publicKey = key.publicKey
    let data = [UInt8](repeating: 0x42, count: 1024)
    let signature = try key.sign(data)
    try measure("\(kind) sign 1 KiB", iterations: 100) { _ = try key.sign(data) }
    measure("\(kind) verify 1 KiB", iterations: 100) { check(publicKey.verify(signature: signature, for: data), "\(kind) verify") }
}

// A P-256 leaf against the CA with a CRL, as the broker checks every connecting participant.
let leafKey = try PrivateKey.generate(.p256)
let leaf = try ca.issue(commonName: "m", publicKey: leafKey.publicKey, usage: .client)
let store = TrustStore(anchors: [ca.certificate], crls: [try ca.makeCRL(revoked: [])])
try measure("TrustStore.verify P-256 leaf with CRL", iterations: 200) { _ = try store.verify(leaf) }

// Detached CMS over 4 KiB, the signer's certificate given (not embedded), as the broker verifies envelopes.
let signerKey = try PrivateKey.generate(.p256)
let signer = try ca.issue(
    commonName: "Unterzeichner", subjectAlternativeNames: ["URI:urn:klammer:participant:signer"],
    publicKey: signerKey.publicKey, usage: .client)
let content = [UInt8](repeating: 0x42, count: 4096)
let cms = try CMS.signDetached(content, certificate: signer, key: signerKey)
try measure("CMS.verifyDetached P-256, 4 KiB, no embedded cert", iterations: 500) {
    try CMS.verifyDetached(signature: cms, content: content, signer: signer)
}
try measure("CMS.signDetached P-256, 4 KiB", iterations: 200) {
    _ = try CMS.signDetached(content, certificate: signer, key: signerKey)
}
