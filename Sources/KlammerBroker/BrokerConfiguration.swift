public import Foundation
public import KlammerCrypto
public import KlammerProtocol

/// Everything the broker core needs besides the registry and the store: its identity, signing key and limits.
public struct BrokerConfiguration: Sendable {
    /// The broker's participant id, written into every receipt (e.g. `broker:klammer-1`).
    public var brokerID: ParticipantID
    /// The broker certificate receipts are signed with (recipients verify receipts against it).
    public var certificate: Certificate
    /// The private key of `certificate`.
    public var key: PrivateKey
    /// Protocol limits applied to envelopes, signatures and payloads (recipient count, message size, signature size).
    public var limits: ProtocolLimits = .default
    /// Payloads up to this many bytes are kept in memory and stored inline in the log record; larger ones are
    /// streamed to a blob. Must not exceed the store's `maxInlinePayload` (1 MiB by default).
    public var maxInlinePayload: Int = 256 << 10
    /// Directory for the broker's own files (the routing-slip receipt log).
    public var directory: String
    /// Most deliveries handed out by one `lease` call.
    public var maxLeaseBatch: Int = 256
    /// Most receipt subscribers per participant (each is one AsyncStream).
    public var maxSubscribersPerParticipant: Int = 16
    /// How long SEND_BEGIN answers a re-used client message id from the routing slip (should equal the store's
    /// `dedupeWindow`; the store's own de-duplication at append remains the final authority).
    public var dedupeWindow: Duration = .seconds(7 * 24 * 3600)
    /// Clock (tests inject a fixed one).
    public var now: @Sendable () -> Date = { Date() }

    /// Creates a configuration. Throws ``KlammerCrypto/CryptoError`` `keyMismatch` if `key` is not `certificate`'s key.
    public init(brokerID: ParticipantID, certificate: Certificate, key: PrivateKey, directory: String) throws {
        guard key.matches(certificate.publicKey) else {
            throw CryptoError(.keyMismatch, "the broker key does not belong to the broker certificate \(certificate.subject); configure the key issued with that certificate")
        }
        self.brokerID = brokerID
        self.certificate = certificate
        self.key = key
        self.directory = directory
    }

    var nowMillis: UInt64 {
        let t = now().timeIntervalSince1970
        return t <= 0 ? 0 : UInt64((t * 1000).rounded(.down))
    }
}
