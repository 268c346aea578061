public import KlammerCrypto
public import KlammerProtocol

/// A message delivered to this participant, with everything needed to verify it offline.
public struct ReceivedMessage: Sendable {
    /// Where the payload ended up.
    public enum Payload: Hashable, Sendable {
        /// In memory (``ReceiveOptions/PayloadStorage/memory(maxBytes:)``).
        case bytes([UInt8])
        /// In a file (``ReceiveOptions/PayloadStorage/directory(_:)``); the caller owns it.
        case file(String)
    }

    /// Message id, acceptance time and the canonical signed envelope.
    public let stored: StoredEnvelope
    /// The sender's signature as delivered.
    public let signature: SenderSignature
    /// DER of the sender certificate the broker verified the signature against.
    public let senderCertificateDER: [UInt8]
    /// The payload.
    public let payload: Payload
    /// SHA-256 of the received payload bytes.
    public let payloadDigest: SHA256Digest
    /// Number of payload bytes received.
    public let payloadLength: UInt64
    /// Why the message failed verification (``MessageVerifier``), or nil if it verified. Only verified messages can
    /// be acknowledged.
    public let verificationError: KlammerClientError?
    /// The payload offset the broker's DELIVER_BEGIN started at: > 0 when a cut download was resumed (SPEC.md
    /// §4.8); the bytes before it came from the part file on disk.
    public let resumedAt: UInt64

    /// The broker-assigned message id.
    public var messageID: MessageID { stored.messageID }
    /// The signed envelope.
    public var envelope: Envelope { stored.envelope }
    /// The exact bytes the sender signed in the single form (the canonical envelope).
    public var signedEnvelopeBytes: [UInt8] { stored.envelope.canonicalBytes }
    /// Whether the signature, the sender certificate and the payload digest verified.
    public var isVerified: Bool { verificationError == nil }
    /// The sender certificate, if its DER parses.
    public var senderCertificate: Certificate? { try? Certificate(der: senderCertificateDER) }

    /// Creates a value (used by the client and by tests).
    public init(
        stored: StoredEnvelope, signature: SenderSignature, senderCertificateDER: [UInt8], payload: Payload,
        payloadDigest: SHA256Digest, payloadLength: UInt64, verificationError: KlammerClientError?,
        resumedAt: UInt64 = 0
    ) {
        self.resumedAt = resumedAt
        self.stored = stored
        self.signature = signature
        self.senderCertificateDER = senderCertificateDER
        self.payload = payload
        self.payloadDigest = payloadDigest
        self.payloadLength = payloadLength
        self.verificationError = verificationError
    }
}

/// How received payloads are kept.
public struct ReceiveOptions: Sendable {
    /// Payload storage.
    public enum PayloadStorage: Sendable {
        /// In memory, up to `maxBytes` per message; a larger message is not accepted (it is NACKed and the
        /// stream fails with a message telling to use a directory).
        case memory(maxBytes: Int)
        /// Streamed to `<directory>/<message id>.payload` (never held in memory).
        case directory(String)
    }

    /// Payload storage, default in memory up to 16 MiB.
    public var payloadStorage: PayloadStorage
    /// Called as payload bytes of a delivery arrive: message id, bytes so far, payload length.
    public var progress: (@Sendable (MessageID, UInt64, UInt64) -> Void)?

    /// Creates options. (Every message is always verified on arrival; see ``ReceivedMessage/verificationError``.)
    public init(
        payloadStorage: PayloadStorage = .memory(maxBytes: 16 << 20),
        progress: (@Sendable (MessageID, UInt64, UInt64) -> Void)? = nil
    ) {
        self.payloadStorage = payloadStorage
        self.progress = progress
    }
}
