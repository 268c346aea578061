import KlammerCrypto
import KlammerProtocol
public import KlammerStore
public import Logging
import Synchronization

/// The broker core: the decisions of the send and delivery paths, without sockets.
///
/// The server layer calls, per connection:
/// - send: ``beginSubmission(from:envelopeBytes:signatureForm:)`` → `.duplicate(receipt)` (answer ACCEPTED) or
///   `.upload(submission)` (answer READY) → ``PayloadSubmission/append(_:at:)`` per CHUNK →
///   ``finishSubmission(_:signature:)`` → signed `accepted` receipt (only after the store confirmed durability);
/// - delivery: ``lease(for:consumer:max:visibility:)`` → ``markDelivered(_:)`` →
///   ``acknowledge(from:consumer:statement:signature:)`` or ``nack(from:consumer:messageID:delay:)``; ``disconnected(consumer:)`` releases leases;
/// - receipts: ``receipts(for:)`` (live events), ``routingSlip(of:requester:)`` (durable history).
///
/// Every refusal is a `ProtocolError` whose `code` goes into the ERROR frame (SPEC.md §7.1).
/// Start ``run()`` once in a task to turn store expiry/dead-letter events into receipts.
///
/// ```swift
/// let broker = try Broker(configuration: config, registry: registry, store: store)
/// Task { await broker.run() }
/// // per connection: participant = registry.participant(forFingerprint: tlsPeerFingerprint)
/// switch try broker.beginSubmission(from: participant, envelopeBytes: begin.envelope, signatureForm: begin.form) {
/// case .duplicate(let receipt): send(.accepted(receipt))
/// case .upload(let upload):
///     send(.ready(offset: 0))
///     for chunk in chunks { try upload.append(chunk.data, at: chunk.offset) }
///     send(.accepted(try await broker.finishSubmission(upload, signature: end.signature)))
/// }
/// for d in try await broker.lease(for: participant, consumer: connectionID, max: credit) {
///     /* DELIVER_BEGIN(d.message…), chunks (d.payload / broker.openPayload), DELIVER_END */
///     try await broker.markDelivered(d)
/// }
/// let receipt = try await broker.acknowledge(from: participant, consumer: connectionID,
///                                            statement: ack.statement, signature: ack.signature)
/// broker.disconnected(consumer: connectionID)   // on close
/// ```
public final class Broker: Sendable {
    /// Identity, key, limits.
    public let configuration: BrokerConfiguration
    /// Participants and their certificates/status/policy.
    public let registry: ParticipantRegistry
    /// The durable message store.
    public let store: KlammerStore
    let receiptLog: ReceiptLog
    let logger: Logger

    struct LeaseKey: Hashable { var recipient: ParticipantID; var messageID: MessageID }
    struct LeaseInfo { var storeID: UInt64; var token: UInt64; var consumer: ConsumerID; var message: StoredMessage }
    struct State {
        var leases: [LeaseKey: LeaseInfo] = [:]
        var subscribers: [ParticipantID: [UInt64: AsyncStream<SignedReceipt>.Continuation]] = [:]
        var nextSubscriber: UInt64 = 0
        var certificates: [String: Certificate] = [:]
        var verifiedBatches = VerifiedBatchCache(capacity: Broker.maxCachedBatches)
        var rejectedReceiptTokens: Double = 0
        var rejectedReceiptRefill: ContinuousClock.Instant?
    }
    /// Bound of the parsed-certificate cache (cleared when full).
    static let maxCachedCertificates = 4096
    let state = Mutex(State())
    /// CA bundle and CRLs for registered certificates, and the status checks that still hold (SPEC.md §7.1 check 10a).
    let certificateStatus: Mutex<CertificateStatusCache>

    /// Opens the broker core over an open store and registry; opens (and recovers) the routing-slip receipt log in
    /// `configuration.directory`.
    public init(
        configuration: BrokerConfiguration, registry: ParticipantRegistry, store: KlammerStore,
        logger: Logger = Logger(label: "klammer.broker")
    ) throws {
        try configuration.validate()
        // A signed `accepted` receipt says the message is durable (SPEC.md §7.2): never over a store that confirms
        // appends before they are fsynced.
        guard store.durability == .always else {
            throw BrokerError(
                .invalidConfiguration,
                "the store confirms appends before fsync (durability \(store.durability)); the broker signs accepted receipts only over a store with durability .always"
            )
        }
        self.configuration = configuration
        self.registry = registry
        self.store = store
        self.logger = logger
        var status = CertificateStatusCache()
        status.replace(configuration.trustStore)
        self.certificateStatus = Mutex(status)
        self.receiptLog = try ReceiptLog(
            directory: configuration.directory, limits: configuration.limits,
            demoteBefore: configuration.millis(ago: configuration.dedupeWindow))
    }

    /// Closes the receipt log and ends all receipt subscriptions. The store is closed by its owner.
    public func close() {
        let subs = state.withLock { s in
            defer { s.subscribers = [:] }
            return s.subscribers.values.flatMap { $0.values }
        }
        for c in subs { c.finish() }
        receiptLog.close()
    }
}
