/// The one-byte type of a frame (SPEC.md §4.3).
public enum FrameType: UInt8, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    // Connection
    case hello = 0x01
    case welcome = 0x02
    case error = 0x03
    case ping = 0x04
    case pong = 0x05
    case goAway = 0x06
    // Upload
    case sendBegin = 0x10
    case ready = 0x11
    case chunk = 0x12
    case sendEnd = 0x13
    case accepted = 0x14
    case windowUpdate = 0x15
    // Download
    case fetch = 0x20
    case subscribe = 0x21
    case credit = 0x22
    case deliverBegin = 0x23
    case deliverChunk = 0x24
    case deliverEnd = 0x25
    case ack = 0x26
    case nack = 0x27
    case fetchDone = 0x28
    // Receipts and status
    case receipt = 0x30
    case statusRequest = 0x31
    case routingSlip = 0x32
    // Reserved for the end-to-end encryption issue; not decodable in version 1.
    case directoryLookup = 0x40
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
    public var isReserved: Bool { self == .directoryLookup || self == .directoryAnswer }

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

    public var description: String { name }
}
