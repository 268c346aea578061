public import NIOCore

// Payload structs of `Frame`. Layouts are specified in SPEC.md §4.4; each `read` consumes a
// frame body through a strict `WireReader` (trailing bytes are rejected by the caller).

extension Frame {
    /// HELLO (client → broker, first frame): offered protocol versions and the client's receive limit.
    public struct Hello: Hashable, Sendable, FrameBody {
        /// Lowest protocol version the client speaks (≥ 1).
        public var minVersion: UInt16
        /// Highest protocol version the client speaks (≥ `minVersion`).
        public var maxVersion: UInt16
        /// Largest frame the client accepts (≥ 4096).
        public var maxFrameSize: UInt32
        /// Free-text client software name and version.
        public var agent: String

        /// Creates the value.
        public init(minVersion: UInt16 = 1, maxVersion: UInt16 = 1, maxFrameSize: UInt32, agent: String) {
            self.minVersion = minVersion
            self.maxVersion = maxVersion
            self.maxFrameSize = maxFrameSize
            self.agent = agent.truncatedUTF8(to: Frame.maxTextBytes)
        }

        /// The highest version both sides speak; throws UNSUPPORTED_VERSION if there is none.
        public func negotiate(supported: ClosedRange<UInt16> = 1...klammerProtocolVersion) throws -> UInt16 {
            let low = max(minVersion, supported.lowerBound), high = min(maxVersion, supported.upperBound)
            guard low <= high else {
                throw ProtocolError(
                    .unsupportedVersion,
                    "client speaks \(minVersion)...\(maxVersion), broker \(supported.lowerBound)...\(supported.upperBound)")
            }
            return high
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(minVersion)
            b.writeInteger(maxVersion)
            b.writeInteger(maxFrameSize)
            b.writeString16(agent)
        }

        static func read(_ r: inout WireReader, limits: ProtocolLimits) throws -> Hello {
            let minV = try r.u16("min version")
            let maxV = try r.u16("max version")
            guard minV >= 1, minV <= maxV else { throw r.error(.invalidValue, "version range \(minV)...\(maxV) invalid") }
            let frame = try r.u32("max frame size")
            guard frame >= 4096 else { throw r.error(.invalidValue, "max frame size \(frame) below 4096") }
            var hello = Hello(minVersion: minV, maxVersion: maxV, maxFrameSize: frame, agent: "")
            hello.agent = try r.string16(max: limits.maxTextBytes, "agent")  // as received, not re-truncated
            return hello
        }
    }

    /// WELCOME (broker → client): chosen version, authenticated identity and the broker's limits.
    public struct Welcome: Hashable, Sendable, FrameBody {
        /// The negotiated protocol version.
        public var version: UInt16
        /// The participant authenticated by the client's TLS certificate.
        public var participant: ParticipantID
        /// The broker's own participant id (appears in receipts).
        public var brokerID: ParticipantID
        /// Largest frame the broker accepts.
        public var maxFrameSize: UInt32
        /// Largest CHUNK payload the broker accepts.
        public var maxChunkSize: UInt32
        /// Largest message payload.
        public var maxMessageSize: UInt64
        /// Most recipients per envelope.
        public var maxRecipients: UInt16
        /// Initial upload byte window of the connection.
        public var initialWindowSize: UInt32
        /// Heartbeat interval in ms (0 = none).
        public var heartbeatIntervalMillis: UInt32
        /// Free-text broker software name and version.
        public var agent: String

        /// Creates the value.
        public init(
            version: UInt16 = 1, participant: ParticipantID, brokerID: ParticipantID,
            limits: ProtocolLimits = .default, agent: String
        ) {
            self.version = version
            self.participant = participant
            self.brokerID = brokerID
            self.maxFrameSize = limits.maxFrameSize
            self.maxChunkSize = limits.maxChunkSize
            self.maxMessageSize = limits.maxMessageSize
            self.maxRecipients = limits.maxRecipients
            self.initialWindowSize = limits.initialWindowSize
            self.heartbeatIntervalMillis = limits.heartbeatIntervalMillis
            self.agent = agent.truncatedUTF8(to: Frame.maxTextBytes)
        }

        /// The broker's announced limits, i.e. what the client must respect when sending
        /// (other fields keep their defaults).
        public var brokerLimits: ProtocolLimits {
            var l = ProtocolLimits()
            l.maxFrameSize = maxFrameSize
            l.maxChunkSize = maxChunkSize
            l.maxMessageSize = maxMessageSize
            l.maxRecipients = maxRecipients
            l.initialWindowSize = initialWindowSize
            l.heartbeatIntervalMillis = heartbeatIntervalMillis
            return l
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(version)
            b.writeParticipantID(participant)
            b.writeParticipantID(brokerID)
            b.writeInteger(maxFrameSize)
            b.writeInteger(maxChunkSize)
            b.writeInteger(maxMessageSize)
            b.writeInteger(maxRecipients)
            b.writeInteger(initialWindowSize)
            b.writeInteger(heartbeatIntervalMillis)
            b.writeString16(agent)
        }

        static func read(_ r: inout WireReader, limits: ProtocolLimits) throws -> Welcome {
            let version = try r.u16("version")
            guard version >= 1 else { throw r.error(.invalidValue, "version 0") }
            let participant = try r.participantID("participant")
            let broker = try r.participantID("broker id")
            var w = Welcome(version: version, participant: participant, brokerID: broker, agent: "")
            // Fields are read in wire order below; the defaults set by the initialiser are overwritten.
            w.maxFrameSize = try r.u32("max frame size")
            w.maxChunkSize = try r.u32("max chunk size")
            w.maxMessageSize = try r.u64("max message size")
            w.maxRecipients = try r.u16("max recipients")
            w.initialWindowSize = try r.u32("initial window size")
            w.heartbeatIntervalMillis = try r.u32("heartbeat interval")
            guard w.maxFrameSize >= 4096, w.maxChunkSize >= 1, UInt64(w.maxChunkSize) + 64 <= UInt64(w.maxFrameSize),
                w.maxRecipients >= 1, w.initialWindowSize <= FlowControlWindow.maxWindow
            else { throw r.error(.invalidValue, "inconsistent limits") }
            w.agent = try r.string16(max: limits.maxTextBytes, "agent")
            return w
        }
    }

    /// ERROR (either direction): request id 0 = connection error (the sender then closes).
    public struct ErrorFrame: Hashable, Sendable, FrameBody {
        /// The failed request, or 0 for the connection.
        public var requestID: UInt32
        /// The error code.
        public var code: ErrorCode
        /// Human-readable text.
        public var message: String

        /// Creates an ERROR frame; `message` is cut to `Frame.maxTextBytes` UTF-8 bytes so any peer accepts it.
        public init(requestID: UInt32, code: ErrorCode, message: String) {
            self.requestID = requestID
            self.code = code
            self.message = message.truncatedUTF8(to: Frame.maxTextBytes)
        }

        /// The ERROR frame for a decoding failure (connection level).
        public init(_ error: ProtocolError, requestID: UInt32 = 0) {
            self.init(requestID: requestID, code: error.code, message: error.message)
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(code.rawValue)
            b.writeString16(message)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> ErrorFrame {
            let code = try r.u16("code")
            var frame = ErrorFrame(requestID: requestID, code: ErrorCode(rawValue: code), message: "")
            frame.message = try r.string16(max: limits.maxTextBytes, "message")  // as received, not re-truncated
            return frame
        }
    }

    /// PING / PONG: an opaque 8-byte value echoed by PONG.
    public struct Ping: Hashable, Sendable, FrameBody {
        /// Opaque data (e.g. a send timestamp).
        public var data: UInt64
        /// Creates the value.
        public init(data: UInt64) { self.data = data }
        func encodeBody(into b: inout ByteBuffer) { b.writeInteger(data) }
        static func read(_ r: inout WireReader) throws -> Ping { Ping(data: try r.u64("data")) }
    }

    /// GOAWAY (either direction): graceful shutdown; requests above `lastRequestID` were not processed.
    public struct GoAway: Hashable, Sendable, FrameBody {
        /// Highest request id the sender processed or will finish.
        public var lastRequestID: UInt32
        /// Why (e.g. SHUTTING_DOWN).
        public var code: ErrorCode
        /// Human-readable text.
        public var message: String

        /// Creates a GOAWAY frame; `message` is cut to `Frame.maxTextBytes` UTF-8 bytes.
        public init(lastRequestID: UInt32, code: ErrorCode, message: String) {
            self.lastRequestID = lastRequestID
            self.code = code
            self.message = message.truncatedUTF8(to: Frame.maxTextBytes)
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(lastRequestID)
            b.writeInteger(code.rawValue)
            b.writeString16(message)
        }

        static func read(_ r: inout WireReader, limits: ProtocolLimits) throws -> GoAway {
            let last = try r.u32("last request id")
            let code = try r.u16("code")
            var frame = GoAway(lastRequestID: last, code: ErrorCode(rawValue: code), message: "")
            frame.message = try r.string16(max: limits.maxTextBytes, "message")  // as received, not re-truncated
            return frame
        }
    }

    /// SEND_BEGIN (client): starts (or resumes) an upload of one message.
    public struct SendBegin: Hashable, Sendable, FrameBody {
        /// The client-chosen request id of this upload.
        public var requestID: UInt32
        /// The form of the signature that SEND_END will carry.
        public var signatureForm: SignatureForm
        /// The signed envelope (sent as its canonical bytes).
        public var envelope: Envelope

        /// Creates the value.
        public init(requestID: UInt32, signatureForm: SignatureForm, envelope: Envelope) {
            self.requestID = requestID
            self.signatureForm = signatureForm
            self.envelope = envelope
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(signatureForm.rawValue)
            b.writeBytes32(envelope.canonicalBytes)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> SendBegin {
            let raw = try r.u8("signature form")
            guard let form = SignatureForm(rawValue: raw) else { throw r.error(.invalidValue, "unknown signature form \(raw)") }
            let bytes = try r.slice32(max: limits.maxFrameSize, "envelope")
            return SendBegin(
                requestID: requestID, signatureForm: form,
                envelope: try Envelope(parsingCanonical: bytes, limits: limits))
        }
    }

    /// READY (broker): the upload may proceed from `offset` (0 = fresh, > 0 = resume).
    public struct Ready: Hashable, Sendable, FrameBody {
        /// The upload's request id.
        public var requestID: UInt32
        /// First payload offset the broker expects.
        public var offset: UInt64

        /// Creates the value.
        public init(requestID: UInt32, offset: UInt64) {
            self.requestID = requestID
            self.offset = offset
        }

        func encodeBody(into b: inout ByteBuffer) { b.writeInteger(offset) }
        static func read(_ r: inout WireReader, requestID: UInt32) throws -> Ready {
            Ready(requestID: requestID, offset: try r.u64("offset"))
        }
    }

    /// CHUNK (client): payload bytes at `offset` of the upload `requestID`.
    public struct Chunk: Hashable, Sendable, FrameBody {
        /// The upload's request id.
        public var requestID: UInt32
        /// Offset of the first byte of `data` within the payload.
        public var offset: UInt64
        /// 1...maxChunkSize payload bytes.
        public var data: ByteBuffer

        /// Creates the value.
        public init(requestID: UInt32, offset: UInt64, data: ByteBuffer) {
            self.requestID = requestID
            self.offset = offset
            self.data = data
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(offset)
            b.writeBuffer32(data)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> Chunk {
            let offset = try r.u64("offset")
            let data = try r.slice32(max: limits.maxChunkSize, "data")
            guard data.readableBytes > 0 else { throw r.error(.invalidValue, "empty chunk") }
            guard offset <= UInt64.max - UInt64(data.readableBytes) else { throw r.error(.invalidValue, "offset overflow") }
            return Chunk(requestID: requestID, offset: offset, data: data)
        }
    }

    /// SEND_END (client): all chunks sent; carries the sender's signature.
    public struct SendEnd: Hashable, Sendable, FrameBody {
        /// The upload's request id.
        public var requestID: UInt32
        /// The signature, in the form announced by SEND_BEGIN.
        public var signature: SenderSignature

        /// Creates the value.
        public init(requestID: UInt32, signature: SenderSignature) {
            self.requestID = requestID
            self.signature = signature
        }

        func encodeBody(into b: inout ByteBuffer) { signature.encode(into: &b) }
        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> SendEnd {
            SendEnd(requestID: requestID, signature: try SenderSignature.read(&r, limits: limits))
        }
    }

    /// ACCEPTED (broker): the upload is durably stored; carries the `accepted` receipt.
    public struct Accepted: Hashable, Sendable, FrameBody {
        /// The upload's request id.
        public var requestID: UInt32
        /// The broker-signed `accepted` receipt.
        public var receipt: SignedReceipt

        /// Creates the value.
        public init(requestID: UInt32, receipt: SignedReceipt) {
            self.requestID = requestID
            self.receipt = receipt
        }

        func encodeBody(into b: inout ByteBuffer) { receipt.encode(into: &b) }
        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> Accepted {
            let receipt = try SignedReceipt.read(&r, limits: limits)
            guard receipt.receipt.kind == .accepted else {
                throw r.error(.invalidValue, "ACCEPTED carries a \(receipt.receipt.kind) receipt")
            }
            return Accepted(requestID: requestID, receipt: receipt)
        }
    }

    /// WINDOW_UPDATE (broker): grants `increment` more upload bytes on the connection.
    public struct WindowUpdate: Hashable, Sendable, FrameBody {
        /// Additional bytes (≥ 1).
        public var increment: UInt32
        /// Creates the value.
        public init(increment: UInt32) { self.increment = increment }
        func encodeBody(into b: inout ByteBuffer) { b.writeInteger(increment) }
        static func read(_ r: inout WireReader) throws -> WindowUpdate {
            let inc = try r.u32("increment")
            guard inc >= 1, inc <= FlowControlWindow.maxWindow else {
                throw r.error(.flowControlViolation, "window increment \(inc) outside 1...2^31-1")
            }
            return WindowUpdate(increment: inc)
        }
    }

    /// Where to resume a partially received delivery.
    public struct ResumePoint: Hashable, Sendable {
        /// The message whose delivery was interrupted.
        public var messageID: MessageID
        /// Number of payload bytes already received.
        public var offset: UInt64
        /// Creates the value.
        public init(messageID: MessageID, offset: UInt64) {
            self.messageID = messageID
            self.offset = offset
        }
    }

    /// FETCH (client): pull up to `maxMessages` deliveries, optionally resuming one first.
    public struct Fetch: Hashable, Sendable, FrameBody {
        /// This pull's request id (deliveries and FETCH_DONE use it).
        public var requestID: UInt32
        /// 1...maxFetchCount.
        public var maxMessages: UInt16
        /// Resume this delivery from the given offset before anything else.
        public var resume: ResumePoint?

        /// Creates the value.
        public init(requestID: UInt32, maxMessages: UInt16, resume: ResumePoint? = nil) {
            self.requestID = requestID
            self.maxMessages = maxMessages
            self.resume = resume
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(maxMessages)
            b.writePresence(resume != nil)
            if let resume {
                b.writeBytes(resume.messageID.bytes)
                b.writeInteger(resume.offset)
            }
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> Fetch {
            let n = try r.u16("max messages")
            guard n >= 1 else { throw r.error(.invalidValue, "max messages is 0") }
            guard n <= limits.maxFetchCount else { throw r.error(.limitExceeded, "max messages \(n) exceeds \(limits.maxFetchCount)") }
            var resume: ResumePoint? = nil
            if try r.presence("resume") {
                resume = ResumePoint(messageID: try r.messageID("resume message id"), offset: try r.u64("resume offset"))
            }
            return Fetch(requestID: requestID, maxMessages: n, resume: resume)
        }
    }

    /// FETCH_DONE (broker): the pull `requestID` is complete.
    public struct FetchDone: Hashable, Sendable, FrameBody {
        /// The FETCH's request id.
        public var requestID: UInt32
        /// Number of deliveries started for this FETCH.
        public var delivered: UInt16
        /// Whether more messages are waiting.
        public var moreAvailable: Bool

        /// Creates the value.
        public init(requestID: UInt32, delivered: UInt16, moreAvailable: Bool) {
            self.requestID = requestID
            self.delivered = delivered
            self.moreAvailable = moreAvailable
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(delivered)
            b.writePresence(moreAvailable)
        }

        static func read(_ r: inout WireReader, requestID: UInt32) throws -> FetchDone {
            FetchDone(requestID: requestID, delivered: try r.u16("delivered"), moreAvailable: try r.presence("more available"))
        }
    }

    /// SUBSCRIBE (client): push deliveries and/or receipt events on `requestID`.
    public struct Subscribe: Hashable, Sendable, FrameBody {
        /// What to push (u8 bit set).
        public struct Topics: OptionSet, Hashable, Sendable {
            public let rawValue: UInt8
            /// Creates the value.
            public init(rawValue: UInt8) { self.rawValue = rawValue }
            /// Messages addressed to the participant (DELIVER_*; consumes message credits).
            public static let deliveries = Topics(rawValue: 0x01)
            /// Receipts about messages the participant sent (RECEIPT; not credit-limited).
            public static let receipts = Topics(rawValue: 0x02)
            /// All bits defined in version 1.
            public static let all: Topics = [.deliveries, .receipts]
        }

        /// The subscription's request id, used by all pushed frames.
        public var requestID: UInt32
        /// Topics; at least one, no unknown bits.
        public var topics: Topics
        /// Initial message credits for deliveries.
        public var credits: UInt32

        /// Creates the value.
        public init(requestID: UInt32, topics: Topics, credits: UInt32) {
            self.requestID = requestID
            self.topics = topics
            self.credits = credits
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeInteger(topics.rawValue)
            b.writeInteger(credits)
        }

        static func read(_ r: inout WireReader, requestID: UInt32) throws -> Subscribe {
            let raw = try r.u8("topics")
            let topics = Topics(rawValue: raw)
            guard !topics.isEmpty, Topics.all.isSuperset(of: topics) else {
                throw r.error(.invalidValue, "topics 0x\(String(raw, radix: 16)) invalid")
            }
            return Subscribe(requestID: requestID, topics: topics, credits: try r.u32("credits"))
        }
    }

    /// CREDIT (client): adds message credits to the subscription `requestID`.
    public struct Credit: Hashable, Sendable, FrameBody {
        /// The subscription's request id.
        public var requestID: UInt32
        /// Additional deliveries allowed (≥ 1).
        public var credits: UInt32

        /// Creates the value.
        public init(requestID: UInt32, credits: UInt32) {
            self.requestID = requestID
            self.credits = credits
        }

        func encodeBody(into b: inout ByteBuffer) { b.writeInteger(credits) }
        static func read(_ r: inout WireReader, requestID: UInt32) throws -> Credit {
            let c = try r.u32("credits")
            guard c >= 1 else { throw r.error(.flowControlViolation, "zero credit") }
            return Credit(requestID: requestID, credits: c)
        }
    }

    /// DELIVER_BEGIN (broker): starts delivering one message; enough to verify it offline.
    public struct DeliverBegin: Hashable, Sendable, FrameBody {
        /// The FETCH or SUBSCRIBE request id.
        public var requestID: UInt32
        /// Envelope with broker-assigned id and acceptance time.
        public var storedEnvelope: StoredEnvelope
        /// The sender's signature over the envelope.
        public var senderSignature: SenderSignature
        /// The sender's signing certificate (DER).
        public var senderCertificate: [UInt8]
        /// Offset of the first DELIVER_CHUNK (> 0 when resuming).
        public var offset: UInt64

        /// Creates the value.
        public init(
            requestID: UInt32, storedEnvelope: StoredEnvelope, senderSignature: SenderSignature,
            senderCertificate: [UInt8], offset: UInt64 = 0
        ) {
            self.requestID = requestID
            self.storedEnvelope = storedEnvelope
            self.senderSignature = senderSignature
            self.senderCertificate = senderCertificate
            self.offset = offset
        }

        func encodeBody(into b: inout ByteBuffer) {
            storedEnvelope.encode(into: &b)
            senderSignature.encode(into: &b)
            b.writeBytes32(senderCertificate)
            b.writeInteger(offset)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> DeliverBegin {
            let stored = try StoredEnvelope.read(&r, limits: limits)
            let signature = try SenderSignature.read(&r, limits: limits)
            let cert = try r.bytes32(max: limits.maxCertificateSize, "sender certificate")
            guard !cert.isEmpty else { throw r.error(.invalidValue, "empty sender certificate") }
            let offset = try r.u64("offset")
            guard offset <= stored.envelope.payloadLength else {
                throw r.error(.invalidValue, "offset \(offset) beyond payload length")
            }
            return DeliverBegin(
                requestID: requestID, storedEnvelope: stored, senderSignature: signature,
                senderCertificate: cert, offset: offset)
        }
    }

    /// DELIVER_CHUNK (broker): payload bytes of the message `messageID`.
    public struct DeliverChunk: Hashable, Sendable, FrameBody {
        /// The FETCH or SUBSCRIBE request id.
        public var requestID: UInt32
        /// The message being delivered.
        public var messageID: MessageID
        /// Offset of the first byte.
        public var offset: UInt64
        /// 1...maxChunkSize bytes.
        public var data: ByteBuffer

        /// Creates the value.
        public init(requestID: UInt32, messageID: MessageID, offset: UInt64, data: ByteBuffer) {
            self.requestID = requestID
            self.messageID = messageID
            self.offset = offset
            self.data = data
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeBytes(messageID.bytes)
            b.writeInteger(offset)
            b.writeBuffer32(data)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> DeliverChunk {
            let id = try r.messageID("message id")
            let offset = try r.u64("offset")
            let data = try r.slice32(max: limits.maxChunkSize, "data")
            guard data.readableBytes > 0 else { throw r.error(.invalidValue, "empty chunk") }
            guard offset <= UInt64.max - UInt64(data.readableBytes) else { throw r.error(.invalidValue, "offset overflow") }
            return DeliverChunk(requestID: requestID, messageID: id, offset: offset, data: data)
        }
    }

    /// DELIVER_END (broker): all chunks of `messageID` were sent.
    public struct DeliverEnd: Hashable, Sendable, FrameBody {
        /// The FETCH or SUBSCRIBE request id.
        public var requestID: UInt32
        /// The delivered message.
        public var messageID: MessageID

        /// Creates the value.
        public init(requestID: UInt32, messageID: MessageID) {
            self.requestID = requestID
            self.messageID = messageID
        }

        func encodeBody(into b: inout ByteBuffer) { b.writeBytes(messageID.bytes) }
        static func read(_ r: inout WireReader, requestID: UInt32) throws -> DeliverEnd {
            DeliverEnd(requestID: requestID, messageID: try r.messageID("message id"))
        }
    }

    /// ACK (client): the recipient's signed acknowledgement statement. Answered by RECEIPT
    /// (the `acknowledged` receipt) with the same request id, or ERROR.
    public struct Ack: Hashable, Sendable, FrameBody {
        /// A fresh client request id.
        public var requestID: UInt32
        /// What the recipient signed.
        public var statement: AcknowledgementStatement
        /// The recipient's detached CMS over `statement.canonicalBytes`.
        public var signature: [UInt8]

        /// Creates the value.
        public init(requestID: UInt32, statement: AcknowledgementStatement, signature: [UInt8]) {
            self.requestID = requestID
            self.statement = statement
            self.signature = signature
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeBytes32(statement.canonicalBytes)
            b.writeBytes32(signature)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> Ack {
            let statement = try AcknowledgementStatement(parsingCanonical: try r.slice32(max: SignedReceipt.maxCanonicalSize, "statement"))
            let signature = try r.bytes32(max: limits.maxSignatureSize, "signature")
            guard !signature.isEmpty else { throw r.error(.signatureMissing, "empty recipient signature") }
            return Ack(requestID: requestID, statement: statement, signature: signature)
        }
    }

    /// NACK (client): the message could not be processed now; redeliver after `retryAfterMillis`.
    public struct Nack: Hashable, Sendable, FrameBody {
        /// A fresh client request id (answered only by ERROR on failure).
        public var requestID: UInt32
        /// The message.
        public var messageID: MessageID
        /// Requested redelivery delay in ms.
        public var retryAfterMillis: UInt32

        /// Creates the value.
        public init(requestID: UInt32, messageID: MessageID, retryAfterMillis: UInt32) {
            self.requestID = requestID
            self.messageID = messageID
            self.retryAfterMillis = retryAfterMillis
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeBytes(messageID.bytes)
            b.writeInteger(retryAfterMillis)
        }

        static func read(_ r: inout WireReader, requestID: UInt32) throws -> Nack {
            Nack(requestID: requestID, messageID: try r.messageID("message id"), retryAfterMillis: try r.u32("retry after"))
        }
    }

    /// RECEIPT (broker): a receipt event (on a `receipts` subscription) or the answer to ACK.
    public struct ReceiptEvent: Hashable, Sendable, FrameBody {
        /// The SUBSCRIBE or ACK request id.
        public var requestID: UInt32
        /// The signed receipt.
        public var receipt: SignedReceipt

        /// Creates the value.
        public init(requestID: UInt32, receipt: SignedReceipt) {
            self.requestID = requestID
            self.receipt = receipt
        }

        func encodeBody(into b: inout ByteBuffer) { receipt.encode(into: &b) }
        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> ReceiptEvent {
            ReceiptEvent(requestID: requestID, receipt: try SignedReceipt.read(&r, limits: limits))
        }
    }

    /// STATUS_REQUEST (client): asks for the routing slip of a message the participant sent or received.
    public struct StatusRequest: Hashable, Sendable, FrameBody {
        /// A fresh client request id.
        public var requestID: UInt32
        /// The message.
        public var messageID: MessageID

        /// Creates the value.
        public init(requestID: UInt32, messageID: MessageID) {
            self.requestID = requestID
            self.messageID = messageID
        }

        func encodeBody(into b: inout ByteBuffer) { b.writeBytes(messageID.bytes) }
        static func read(_ r: inout WireReader, requestID: UInt32) throws -> StatusRequest {
            StatusRequest(requestID: requestID, messageID: try r.messageID("message id"))
        }
    }

    /// ROUTING_SLIP (broker): receipts of a message in chronological order; long slips are split
    /// over several frames with `more` set on all but the last.
    public struct RoutingSlip: Hashable, Sendable, FrameBody {
        /// The STATUS_REQUEST's request id.
        public var requestID: UInt32
        /// The message.
        public var messageID: MessageID
        /// Whether another ROUTING_SLIP frame follows for this request.
        public var more: Bool
        /// The receipts (at most `maxRoutingSlipEntries` per frame).
        public var receipts: [SignedReceipt]

        /// Creates the value.
        public init(requestID: UInt32, messageID: MessageID, more: Bool = false, receipts: [SignedReceipt]) {
            self.requestID = requestID
            self.messageID = messageID
            self.more = more
            self.receipts = receipts
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeBytes(messageID.bytes)
            b.writePresence(more)
            b.writeInteger(UInt16(receipts.count))
            for r in receipts { r.encode(into: &b) }
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> RoutingSlip {
            let id = try r.messageID("message id")
            let more = try r.presence("more")
            let count = try r.u16("receipt count")
            guard count <= limits.maxRoutingSlipEntries else {
                throw r.error(.limitExceeded, "\(count) receipts exceed limit \(limits.maxRoutingSlipEntries)")
            }
            var receipts: [SignedReceipt] = []
            receipts.reserveCapacity(min(Int(count), r.remaining / 16))
            for _ in 0..<Int(count) {
                let s = try SignedReceipt.read(&r, limits: limits)
                guard s.receipt.messageID == id else { throw r.error(.invalidValue, "receipt for another message in routing slip") }
                receipts.append(s)
            }
            return RoutingSlip(requestID: requestID, messageID: id, more: more, receipts: receipts)
        }
    }
}
