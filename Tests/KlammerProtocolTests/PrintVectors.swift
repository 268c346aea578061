import Testing
import Foundation
@testable import KlammerProtocol

/// Prints all vectors as `name hex` lines when KLAMMER_PRINT_VECTORS is set (used to write SPEC.md).
@Test func printVectorsForSpec() throws {
    guard ProcessInfo.processInfo.environment["KLAMMER_PRINT_VECTORS"] != nil else { return }
    for (name, frame) in Fixtures.frames { print("VECTOR \(name) \(Hex.encode(frame.encodedBytes))") }
    for (name, bytes) in Fixtures.canonical { print("VECTOR \(name) \(Hex.encode(bytes))") }
}
