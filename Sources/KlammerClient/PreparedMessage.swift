public import Foundation
import KlammerCrypto
public import KlammerProtocol

/// A message ready to upload: the canonical envelope, the sender's detached CMS signature over it, and the payload.
///
/// Sending the same `PreparedMessage` again (on this or a new connection) is safe: the broker recognises the
/// (sender, client message id) pair and the identical envelope and answers with the original `accepted` receipt
/// (SPEC.md §4.8, §7.2). Preparing again would take a new `createdAt` and so produce a *different* envelope, which the
/// broker refuses under a reused client message id (INVALID_ENVELOPE).
public struct PreparedMessage: Sendable {
    /// The signed envelope.
    public let envelope: Envelope
    /// The sender's signature (single form: CMS over `envelope.canonicalBytes`).
    public let signature: SenderSignature
    /// Where the payload bytes come from.
    public let payload: PayloadSource

    /// SHA-256 of the canonical envelope bytes (receipts refer to the message by it).
    public var envelopeDigest: SHA256Digest { envelope.digest(sha256: SHA256.hash) }

    /// Creates a prepared message from parts (e.g. restored from disk).
    public init(envelope: Envelope, signature: SenderSignature, payload: PayloadSource) {
        self.envelope = envelope
        self.signature = signature
        self.payload = payload
    }

    /// Builds the canonical envelope (SPEC.md §5.2) — hashing the payload — and signs it with `credentials`.
    ///
    /// - Parameters:
    ///   - sender: the sending participant; defaults to the id in the credentials' certificate.
    ///   - clientMessageID: de-duplication key, unique per sender; a random one (`klammer-<32 hex>`) if nil.
    ///   - createdAt: sender clock, default now.
    public static func prepare(
        credentials: ClientCredentials,
        sender: ParticipantID? = nil,
        recipients: [ParticipantID],
        subject: String = "",
        contentType: String = "application/octet-stream",
        payload: PayloadSource,
        clientMessageID: String? = nil,
        timeToLiveSeconds: UInt32? = nil,
        conversationID: MessageID? = nil,
        inReplyTo: MessageID? = nil,
        createdAt: Date = Date()
    ) throws(KlammerClientError) -> PreparedMessage {
        guard let sender = sender ?? credentials.participantID else {
            throw KlammerClientError(
                .invalidProfile, "the certificate names no participant (no URI:urn:klammer:participant:<id> SAN); it cannot send")
        }
        let (length, digest) = try payload.measure()
        let envelope: Envelope
        do {
            envelope = try Envelope(
                clientMessageID: clientMessageID ?? "klammer-" + MessageID.random().hex,
                sender: sender, recipients: recipients, subject: subject, contentType: contentType,
                createdAtMillis: UInt64(max(0, createdAt.timeIntervalSince1970 * 1000)),
                payloadLength: length, payloadDigest: digest, timeToLiveSeconds: timeToLiveSeconds,
                conversationID: conversationID, inReplyTo: inReplyTo)
        } catch let e as ProtocolError {
            throw KlammerClientError(.invalidArgument, code: e.code, "cannot build the envelope: \(e.message)")
        } catch {
            throw KlammerClientError(.invalidArgument, "cannot build the envelope: \(error)")
        }
        let cms: [UInt8]
        do {
            cms = try CMS.signDetached(envelope.canonicalBytes, certificate: credentials.certificate, key: credentials.privateKey)
        } catch {
            throw KlammerClientError(.invalidProfile, "cannot sign the envelope: \(error)")
        }
        return PreparedMessage(envelope: envelope, signature: .single(cms: cms), payload: payload)
    }
}
