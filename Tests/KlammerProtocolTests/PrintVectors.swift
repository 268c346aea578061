import Testing
import Foundation
@testable import KlammerProtocol

/// The vectors as the encoder writes them from the fixtures, each equal to its SPEC.md block (so SPEC.md regenerated
/// from this output would not change); with KLAMMER_PRINT_VECTORS set also printed as `VECTOR name hex` lines (used
/// to write SPEC.md).
@Test func printedVectorsMatchSpec() throws {
    let spec = try VectorTests.specVectors()
    let vectors = Fixtures.frames.map { (name: $0.name, bytes: $0.frame.encodedBytes) } + Fixtures.canonical
    #expect(vectors.count >= 20 && Set(vectors.map(\.name)).count == vectors.count, "\(vectors.count) vectors, names not unique?")
    for (name, bytes) in vectors {
        let hex = Hex.encode(bytes)
        #expect(spec[name] == hex, "vector \(name) encodes as \(hex), SPEC.md has \(spec[name] ?? "no such vector")")
        if ProcessInfo.processInfo.environment["KLAMMER_PRINT_VECTORS"] != nil { print("VECTOR \(name) \(hex)") }
    }
}
