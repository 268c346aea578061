import Foundation
import KlammerFuzzTargets
@testable import KlammerProtocol
import Testing

/// The libFuzzer targets' properties (no crash, only ProtocolError, decode∘encode = identity) on the SPEC.md
/// vectors and on every saved fuzz regression, so that a crash found once stays fixed.
@Suite struct FuzzTargetTests {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    @Test(arguments: FuzzTarget.allCases)
    func specVectorsSatisfyTheFuzzProperties(target: FuzzTarget) {
        for (_, hex) in Vectors.all {
            let bytes = Hex.decode(hex)!
            bytes.withUnsafeBytes { target.run($0) }
            // Every truncation too: each must fail cleanly.
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 16)) {
                Array(bytes.prefix(cut)).withUnsafeBytes { target.run($0) }
            }
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func savedRegressionsStayFixed(target: FuzzTarget) throws {
        let directory = Self.testsDirectory.appendingPathComponent("FuzzRegressions/\(target.rawValue)")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }
        for name in names {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            data.withUnsafeBytes { target.run($0) }
        }
    }
}
