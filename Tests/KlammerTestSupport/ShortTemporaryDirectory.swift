import Foundation

/// A temporary directory under /tmp with a short name (an admin socket path inside it must stay below 108
/// bytes), removed when released.
public final class ShortTemporaryDirectory {
    public let path: String

    public init() throws {
        path = "/tmp/kat-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
