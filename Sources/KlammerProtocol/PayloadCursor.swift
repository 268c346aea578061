/// Tracks the payload of one upload or delivery: chunks must be contiguous and must add up to the
/// declared length (SPEC.md §4.4.8, §4.8). Used by the broker for CHUNK and by clients for DELIVER_CHUNK.
public struct PayloadCursor: Hashable, Sendable {
    /// The envelope's declared payload length.
    public let length: UInt64
    /// The next expected offset (= bytes received so far, including a resumed prefix).
    public private(set) var offset: UInt64

    /// Starts at `offset` (0, or the READY / DELIVER_BEGIN resume offset); throws INVALID_VALUE if beyond `length`.
    public init(length: UInt64, startingAt offset: UInt64 = 0) throws {
        guard offset <= length else {
            throw ProtocolError(.invalidValue, "resume offset \(offset) beyond payload length \(length)")
        }
        self.length = length
        self.offset = offset
    }

    /// Accepts a chunk; throws CHUNK_OFFSET_MISMATCH if not contiguous, LENGTH_MISMATCH if it runs past the end.
    public mutating func accept(offset chunkOffset: UInt64, count: Int) throws {
        guard chunkOffset == offset else {
            throw ProtocolError(.chunkOffsetMismatch, "chunk at offset \(chunkOffset), expected \(offset)")
        }
        guard count >= 0, UInt64(count) <= length - offset else {
            throw ProtocolError(.lengthMismatch, "chunk of \(count) bytes at \(offset) exceeds payload length \(length)")
        }
        offset += UInt64(count)
    }

    /// Whether all bytes were received.
    public var isComplete: Bool { offset == length }

    /// Throws LENGTH_MISMATCH unless complete (call on SEND_END / DELIVER_END).
    public func finish() throws {
        guard isComplete else {
            throw ProtocolError(.lengthMismatch, "received \(offset) of \(length) payload bytes")
        }
    }
}
