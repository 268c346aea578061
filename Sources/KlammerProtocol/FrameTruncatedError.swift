/// The connection ended in the middle of a frame (`KlammerFrameDecoder.decodeLast`).
///
/// Not a `ProtocolError`: nothing malformed was received, the transport simply ended (a broker killed or a network
/// cut mid-frame looks exactly like this). A client treats it like any lost connection — retryable on a new
/// connection — instead of as a protocol violation by the peer.
public struct FrameTruncatedError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Bytes of the unfinished frame that had arrived.
    public let pendingBytes: Int

    /// Creates the error for `pendingBytes` received bytes of an unfinished frame.
    public init(pendingBytes: Int) { self.pendingBytes = pendingBytes }

    public var description: String { "connection closed inside a frame (\(pendingBytes) bytes pending)" }
}
