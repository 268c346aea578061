/// Bounds applied when decoding. Every length and count read from the wire is checked against
/// these values (and against the bytes actually present) before anything is allocated.
///
/// Each side decodes with its own limits and announces the ones that matter to the peer in
/// HELLO / WELCOME (SPEC.md §4.7).
public struct ProtocolLimits: Hashable, Sendable {
    /// Maximum frame length (the value of the 4-byte length prefix). Default 1 MiB.
    public var maxFrameSize: UInt32 = 1 << 20
    /// Maximum payload bytes in one CHUNK / DELIVER_CHUNK. Default 256 KiB.
    public var maxChunkSize: UInt32 = 256 << 10
    /// Maximum declared payload length of a message. Default 2 GiB.
    public var maxMessageSize: UInt64 = 2 << 30
    /// Maximum number of recipients of one envelope. Default 256.
    public var maxRecipients: UInt16 = 256
    /// Initial upload byte window per connection. Default 4 MiB.
    public var initialWindowSize: UInt32 = 4 << 20
    /// Heartbeat interval in milliseconds (0 = none). Default 30 s.
    public var heartbeatIntervalMillis: UInt32 = 30_000
    /// Maximum size of one CMS signature (DER). Default 64 KiB.
    public var maxSignatureSize: UInt32 = 64 << 10
    /// Maximum size of a DER certificate. Default 16 KiB.
    public var maxCertificateSize: UInt32 = 16 << 10
    /// Maximum UTF-8 bytes of an envelope subject. Default 1024.
    public var maxSubjectBytes: UInt16 = 1024
    /// Maximum UTF-8 bytes of free text (error messages, agent strings). Default 1024.
    public var maxTextBytes: UInt16 = 1024
    /// Maximum receipts in one ROUTING_SLIP frame. Default 256.
    public var maxRoutingSlipEntries: UInt16 = 256
    /// Maximum messages requested by one FETCH. Default 1000.
    public var maxFetchCount: UInt16 = 1000
    /// Maximum leaves of a batch signature's Merkle tree. Default 4096 (fixed by SPEC.md §5.6).
    public var maxBatchSize: UInt16 = 4096

    /// Default limits (SPEC.md §4.7).
    public init() {}

    /// The defaults.
    public static let `default` = ProtocolLimits()

    /// Protocol ceilings no configuration may exceed.
    public enum Ceiling {
        /// Largest permitted `maxFrameSize` (16 MiB).
        public static let maxFrameSize: UInt32 = 16 << 20
        /// Largest batch (Merkle leaves).
        public static let maxBatchSize: UInt16 = 4096
        /// Largest number of recipients encodable.
        public static let maxRecipients: UInt16 = 4096
    }

    /// Checks that the limits are internally consistent (a chunk fits into a frame, ceilings hold).
    public func validate() throws {
        guard maxFrameSize <= Ceiling.maxFrameSize, maxFrameSize >= 4096 else {
            throw ProtocolError(.invalidValue, "maxFrameSize \(maxFrameSize) outside 4096...\(Ceiling.maxFrameSize)")
        }
        guard maxChunkSize >= 1, UInt64(maxChunkSize) + 64 <= UInt64(maxFrameSize) else {
            throw ProtocolError(.invalidValue, "maxChunkSize \(maxChunkSize) must be 1...maxFrameSize-64")
        }
        guard maxRecipients >= 1, maxRecipients <= Ceiling.maxRecipients else {
            throw ProtocolError(.invalidValue, "maxRecipients \(maxRecipients) outside 1...\(Ceiling.maxRecipients)")
        }
        guard maxBatchSize >= 1, maxBatchSize <= Ceiling.maxBatchSize else {
            throw ProtocolError(.invalidValue, "maxBatchSize \(maxBatchSize) outside 1...\(Ceiling.maxBatchSize)")
        }
        guard initialWindowSize <= FlowControlWindow.maxWindow else {
            throw ProtocolError(.invalidValue, "initialWindowSize above 2^31-1")
        }
    }
}
