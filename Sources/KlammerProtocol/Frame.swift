public import NIOCore

/// One Klammer frame (SPEC.md §4). Each case carries a payload struct; request-scoped payloads
/// carry their `requestID` (non-zero), connection-level frames are sent with request id 0.
///
/// Encoding is total (values are validated at construction or are plain numbers); decoding is
/// done by `FrameParser` and is strict.
public enum Frame: Hashable, Sendable {
    /// HELLO (SPEC.md §4.4.1).
    case hello(Hello)
    /// WELCOME (SPEC.md §4.4.2).
    case welcome(Welcome)
    /// ERROR (SPEC.md §4.4.3).
    case error(ErrorFrame)
    /// PING (SPEC.md §4.4.4).
    case ping(Ping)
    /// PONG (SPEC.md §4.4.4).
    case pong(Ping)
    /// GOAWAY (SPEC.md §4.4.5).
    case goAway(GoAway)
    /// SEND_BEGIN (SPEC.md §4.4.6).
    case sendBegin(SendBegin)
    /// READY (SPEC.md §4.4.7).
    case ready(Ready)
    /// CHUNK (SPEC.md §4.4.8).
    case chunk(Chunk)
    /// SEND_END (SPEC.md §4.4.9).
    case sendEnd(SendEnd)
    /// ACCEPTED (SPEC.md §4.4.10).
    case accepted(Accepted)
    /// WINDOW_UPDATE (SPEC.md §4.4.11).
    case windowUpdate(WindowUpdate)
    /// FETCH (SPEC.md §4.4.12).
    case fetch(Fetch)
    /// SUBSCRIBE (SPEC.md §4.4.13).
    case subscribe(Subscribe)
    /// CREDIT (SPEC.md §4.4.14).
    case credit(Credit)
    /// DELIVER_BEGIN (SPEC.md §4.4.15).
    case deliverBegin(DeliverBegin)
    /// DELIVER_CHUNK (SPEC.md §4.4.16).
    case deliverChunk(DeliverChunk)
    /// DELIVER_END (SPEC.md §4.4.17).
    case deliverEnd(DeliverEnd)
    /// ACK (SPEC.md §4.4.18).
    case ack(Ack)
    /// NACK (SPEC.md §4.4.19).
    case nack(Nack)
    /// FETCH_DONE (SPEC.md §4.4.20).
    case fetchDone(FetchDone)
    /// RECEIPT (SPEC.md §4.4.21).
    case receipt(ReceiptEvent)
    /// STATUS_REQUEST (SPEC.md §4.4.22).
    case statusRequest(StatusRequest)
    /// ROUTING_SLIP (SPEC.md §4.4.23).
    case routingSlip(RoutingSlip)
    /// DIRECTORY_LOOKUP (SPEC.md §4.4.24).
    case directoryLookup(DirectoryLookup)
    /// DIRECTORY_ANSWER (SPEC.md §4.4.25).
    case directoryAnswer(DirectoryAnswer)

    /// Size of the fixed header: length u32, type u8, flags u8, request id u32.
    public static let headerSize = 10
    /// Bytes counted by the length prefix before the body (type, flags, request id).
    public static let headerSizeAfterLength: UInt32 = 6
    /// Free-text fields (agent, ERROR and GOAWAY messages) are cut to this many UTF-8 bytes when a
    /// frame value is created, so they fit the default `maxTextBytes` of any peer.
    public static let maxTextBytes = 1024
    /// Frame bytes of a CHUNK besides its data (length prefix, header, offset, data length): 22.
    public static let chunkOverhead = 22
    /// Frame bytes of a DELIVER_CHUNK besides its data (adds the 16-byte message id): 38.
    public static let deliverChunkOverhead = 38

    /// The largest chunk data that fits a peer's frame size and chunk limit.
    public static func maxChunkData(maxFrameSize: UInt32, maxChunkSize: UInt32, deliver: Bool = false) -> Int {
        let overhead = (deliver ? deliverChunkOverhead : chunkOverhead) - 4  // the length prefix is not counted
        return max(0, min(Int(maxChunkSize), Int(maxFrameSize) - overhead))
    }

    /// The frame's type byte.
    public var type: FrameType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .error: return .error
        case .ping: return .ping
        case .pong: return .pong
        case .goAway: return .goAway
        case .sendBegin: return .sendBegin
        case .ready: return .ready
        case .chunk: return .chunk
        case .sendEnd: return .sendEnd
        case .accepted: return .accepted
        case .windowUpdate: return .windowUpdate
        case .fetch: return .fetch
        case .subscribe: return .subscribe
        case .credit: return .credit
        case .deliverBegin: return .deliverBegin
        case .deliverChunk: return .deliverChunk
        case .deliverEnd: return .deliverEnd
        case .ack: return .ack
        case .nack: return .nack
        case .fetchDone: return .fetchDone
        case .receipt: return .receipt
        case .statusRequest: return .statusRequest
        case .routingSlip: return .routingSlip
        case .directoryLookup: return .directoryLookup
        case .directoryAnswer: return .directoryAnswer
        }
    }

    /// The request id written in the header (0 for connection-level frames).
    public var requestID: UInt32 {
        switch self {
        case .hello, .welcome, .ping, .pong, .goAway, .windowUpdate: return 0
        case .error(let f): return f.requestID
        case .sendBegin(let f): return f.requestID
        case .ready(let f): return f.requestID
        case .chunk(let f): return f.requestID
        case .sendEnd(let f): return f.requestID
        case .accepted(let f): return f.requestID
        case .fetch(let f): return f.requestID
        case .subscribe(let f): return f.requestID
        case .credit(let f): return f.requestID
        case .deliverBegin(let f): return f.requestID
        case .deliverChunk(let f): return f.requestID
        case .deliverEnd(let f): return f.requestID
        case .ack(let f): return f.requestID
        case .nack(let f): return f.requestID
        case .fetchDone(let f): return f.requestID
        case .receipt(let f): return f.requestID
        case .statusRequest(let f): return f.requestID
        case .routingSlip(let f): return f.requestID
        case .directoryLookup(let f): return f.requestID
        case .directoryAnswer(let f): return f.requestID
        }
    }

    private var body: any FrameBody {
        switch self {
        case .hello(let f): return f
        case .welcome(let f): return f
        case .error(let f): return f
        case .ping(let f): return f
        case .pong(let f): return f
        case .goAway(let f): return f
        case .sendBegin(let f): return f
        case .ready(let f): return f
        case .chunk(let f): return f
        case .sendEnd(let f): return f
        case .accepted(let f): return f
        case .windowUpdate(let f): return f
        case .fetch(let f): return f
        case .subscribe(let f): return f
        case .credit(let f): return f
        case .deliverBegin(let f): return f
        case .deliverChunk(let f): return f
        case .deliverEnd(let f): return f
        case .ack(let f): return f
        case .nack(let f): return f
        case .fetchDone(let f): return f
        case .receipt(let f): return f
        case .statusRequest(let f): return f
        case .routingSlip(let f): return f
        case .directoryLookup(let f): return f
        case .directoryAnswer(let f): return f
        }
    }

    /// Appends the complete frame (header and body) to `buffer`.
    public func encode(into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))  // patched below
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(UInt8(0))  // flags, reserved
        buffer.writeInteger(requestID)
        body.encodeBody(into: &buffer)
        buffer.setInteger(UInt32(buffer.writerIndex - start - 4), at: start)
    }

    /// The complete encoded frame as bytes.
    public var encodedBytes: [UInt8] {
        var b = ByteBuffer()
        encode(into: &b)
        return b.readBytes(length: b.readableBytes) ?? []
    }
}

/// Internal: the body encoding/decoding of one frame type.
protocol FrameBody: Sendable {
    func encodeBody(into buffer: inout ByteBuffer)
}
