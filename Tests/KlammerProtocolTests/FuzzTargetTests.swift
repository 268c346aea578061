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

    /// Every saved regression of the target, and the SPEC.md vectors as seed inputs with them (the directories may
    /// hold only `.gitkeep`: the test must not pass on no input at all).
    @Test(arguments: FuzzTarget.allCases)
    func savedRegressionsStayFixed(target: FuzzTarget) throws {
        let directory = Self.testsDirectory.appendingPathComponent("FuzzRegressions/\(target.rawValue)")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { !$0.hasPrefix(".") }
        var inputs = try names.map { [UInt8](try Data(contentsOf: directory.appendingPathComponent($0))) }
        inputs += Vectors.all.compactMap { Hex.decode($0.hex) }
        #expect(
            inputs.count >= names.count + Vectors.all.count && inputs.count > 0,
            "\(inputs.count) inputs for \(target): \(names.count) saved regressions, \(Vectors.all.count) SPEC.md vectors")
        for input in inputs { input.withUnsafeBytes { target.run($0) } }
    }
}
