/// A damaged byte range found by recovery or scrub. The bytes are copied (or the file moved) to `quarantine/`.
public struct CorruptionReport: Sendable, Equatable, CustomStringConvertible {
    /// The damaged file.
    public var file: String
    /// Offset of the first bad byte.
    public var offset: UInt64
    /// Length of the bad range.
    public var length: UInt64
    /// What failed.
    public var reason: String
    /// Where the bad bytes were preserved, if they were.
    public var quarantinedAs: String?

    public var description: String {
        "\(file) offset \(offset) length \(length): \(reason)" + (quarantinedAs.map { " (kept as \($0))" } ?? "")
    }
}

/// What `KlammerStore.open` found and did.
public struct RecoveryReport: Sendable {
    /// Corrupt ranges and files (quarantined, never deleted). Everything else stayed available.
    public var corruptions: [CorruptionReport] = []
    /// Last segment files whose header was never completely written (crash while creating a segment). They hold no
    /// records; they are moved to `quarantine/` like damaged files, but are not corruption.
    public var incompleteSegments: [String] = []
    /// Bytes of an incomplete write after the last fsync that were cut off the last segment.
    public var truncatedTailBytes: UInt64 = 0
    /// Segments read.
    public var segments = 0
    /// Records replayed.
    public var records = 0
    /// Messages with at least one pending entry after recovery.
    public var messages = 0
    /// Wall time of recovery.
    public var duration: Duration = .zero
}
