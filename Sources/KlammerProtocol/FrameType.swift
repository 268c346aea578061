/// The one-byte type of a frame (SPEC.md §4.3).
public enum FrameType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    // Connection
    /// HELLO.
    case hello = 0x01
    /// WELCOME.
    case welcome = 0x02
    /// ERROR.
    case error = 0x03
    /// PING.
    case ping = 0x04
    /// PONG.
    case pong = 0x05
    /// GOAWAY.
    case goAway = 0x06
    // Upload
    /// SEND_BEGIN.
    case sendBegin = 0x10
    /// READY.
    case ready = 0x11
    /// CHUNK.
    case chunk = 0x12
    /// SEND_END.
    case sendEnd = 0x13
    /// ACCEPTED.
    case accepted = 0x14
    /// WINDOW_UPDATE.
    case windowUpdate = 0x15
    // Download
    /// FETCH.
    case fetch = 0x20
    /// SUBSCRIBE.
    case subscribe = 0x21
    /// CREDIT.
    case credit = 0x22
    /// DELIVER_BEGIN.
    case deliverBegin = 0x23
    /// DELIVER_CHUNK.
    case deliverChunk = 0x24
    /// DELIVER_END.
    case deliverEnd = 0x25
    /// ACK.
    case ack = 0x26
    /// NACK.
    case nack = 0x27
    /// FETCH_DONE.
    case fetchDone = 0x28
    // Receipts and status
    /// RECEIPT.
    case receipt = 0x30
    /// STATUS_REQUEST.
    case statusRequest = 0x31
    /// ROUTING_SLIP.
    case routingSlip = 0x32
    // Directory (end-to-end encryption)
    /// DIRECTORY_LOOKUP.
    case directoryLookup = 0x40
    /// DIRECTORY_ANSWER.
    case directoryAnswer = 0x41

    /// Who may send a frame type.
    public enum Direction: Sendable, Hashable {
        /// Client → broker.
        case clientToServer
        /// Broker → client.
        case serverToClient
        /// Either side.
        case both
    }

    /// Reserved types have a number but no layout in this version; receiving one is UNKNOWN_FRAME_TYPE.
    /// (None at the moment: 0x40/0x41 were reserved for the directory and are now assigned.)
    public var isReserved: Bool { false }

    /// Connection-level frames carry request id 0; all others a non-zero request id
    /// (ERROR may use either: 0 = connection error).
    public var isConnectionLevel: Bool {
        switch self {
        case .hello, .welcome, .ping, .pong, .goAway, .windowUpdate: return true
        default: return false
        }
    }

    /// Who may send this frame type.
    public var direction: Direction {
        switch self {
        case .hello, .sendBegin, .chunk, .sendEnd, .fetch, .subscribe, .credit, .ack, .nack, .statusRequest,
            .directoryLookup:
            return .clientToServer
        case .welcome, .ready, .accepted, .windowUpdate, .deliverBegin, .deliverChunk, .deliverEnd, .fetchDone,
            .receipt, .routingSlip, .directoryAnswer:
            return .serverToClient
        case .error, .ping, .pong, .goAway:
            return .both
        }
    }

    /// The SPEC.md name, e.g. `SEND_BEGIN`.
    public var name: String {
        switch self {
        case .hello: return "HELLO"
        case .welcome: return "WELCOME"
        case .error: return "ERROR"
        case .ping: return "PING"
        case .pong: return "PONG"
        case .goAway: return "GOAWAY"
        case .sendBegin: return "SEND_BEGIN"
        case .ready: return "READY"
        case .chunk: return "CHUNK"
        case .sendEnd: return "SEND_END"
        case .accepted: return "ACCEPTED"
        case .windowUpdate: return "WINDOW_UPDATE"
        case .fetch: return "FETCH"
        case .subscribe: return "SUBSCRIBE"
        case .credit: return "CREDIT"
        case .deliverBegin: return "DELIVER_BEGIN"
        case .deliverChunk: return "DELIVER_CHUNK"
        case .deliverEnd: return "DELIVER_END"
        case .ack: return "ACK"
        case .nack: return "NACK"
        case .fetchDone: return "FETCH_DONE"
        case .receipt: return "RECEIPT"
        case .statusRequest: return "STATUS_REQUEST"
        case .routingSlip: return "ROUTING_SLIP"
        case .directoryLookup: return "DIRECTORY_LOOKUP"
        case .directoryAnswer: return "DIRECTORY_ANSWER"
        }
    }

    /// Textual form.
    public var description: String { name }
}
