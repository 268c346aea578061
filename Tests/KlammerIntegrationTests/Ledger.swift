import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol

/// The checker's record of everything that happened: every confirmed send (ACCEPTED receipt in hand), every
/// delivery as the recipient saw it (duplicates included), every confirmed acknowledgement.
actor Ledger {
    struct Sent: Sendable {
        let workflow: String
        let sender: String
        let recipients: [String]
        let clientMessageID: String
        let payloadSHA256: [UInt8]
        /// Registration only: the position in the (sender, recipient) sequence.
        let sequence: Int?
        let startedAt: Date
        let receipt: SignedReceipt
        /// End-to-end encrypted documents: 32-byte pieces of the plaintext that must appear nowhere in the broker's
        /// data directory (`PlaintextScan`).
        var plaintextSamples: [[UInt8]] = []
        /// End-to-end encrypted documents: SHA-256 of the plaintext (what each recipient must decrypt).
        var plaintextSHA256: [UInt8]? = nil
    }
    /// A refused attempt as the audit log records it: `action` (`connection.refused`, `submission.refused`), the
    /// participant the connection belonged to (nil for an unregistered certificate) and the error code's name.
    struct Refusal: Sendable, Hashable, CustomStringConvertible {
        let action: String
        let participant: String?
        let code: String
        var description: String { "\(action) \(code) (\(participant ?? "unregistered certificate"))" }
    }
    struct Delivery: Sendable {
        let recipient: String
        let messageID: MessageID
        let sender: String
        let clientMessageID: String
        let at: Date
        let verified: Bool
        let payloadSHA256: [UInt8]
        /// For an encrypted payload: SHA-256 of what the recipient decrypted (nil if it could not).
        var plaintextSHA256: [UInt8]? = nil
    }

    private(set) var sent: [MessageID: Sent] = [:]
    private var sentOrder: [MessageID] = []
    private(set) var deliveries: [Delivery] = []
    private var firstDelivery: [String: [MessageID: Date]] = [:]
    /// Per recipient, message ids in the order of their first delivery.
    private var firstOrder: [String: [MessageID]] = [:]
    private(set) var acked: Set<String> = []
    /// Confirmed (message, recipient) pairs not acknowledged yet, kept up to date (the settle loop polls it often;
    /// recomputing it over 100,000 messages every time would stall this actor).
    private var unacknowledged: [String: (MessageID, String)] = [:]
    private var counts: [String: Int] = [:]
    private(set) var faults: [String] = []
    /// Attempts the broker refused, each of which its audit log must hold (SPEC §10.4).
    private(set) var refusals: [Refusal] = []
    /// A sample of received messages for `openssl cms -verify`.
    private(set) var samples: [ReceivedMessage] = []
    let sampleLimit: Int

    init(sampleLimit: Int) { self.sampleLimit = sampleLimit }

    static func key(_ recipient: String, _ id: MessageID) -> String { recipient + "/" + id.hex }

    func confirmed(_ s: Sent) {
        let id = s.receipt.receipt.messageID
        if sent[id] == nil {
            sentOrder.append(id)
            counts[s.workflow, default: 0] += 1
            for recipient in s.recipients where !acked.contains(Self.key(recipient, id)) {
                unacknowledged[Self.key(recipient, id)] = (id, recipient)
            }
        }
        sent[id] = s
    }

    /// Records a delivery; returns true if it is the first one of this message to this recipient.
    /// - Parameter digest: SHA-256 of the payload as received (a file payload is hashed by the caller, streaming).
    func delivered(_ m: ReceivedMessage, to recipient: String, digest: [UInt8], plaintextDigest: [UInt8]? = nil) -> Bool {
        deliveries.append(
            Delivery(
                recipient: recipient, messageID: m.messageID, sender: m.envelope.sender.description,
                clientMessageID: m.envelope.clientMessageID, at: Date(), verified: m.isVerified,
                payloadSHA256: digest, plaintextSHA256: plaintextDigest))
        if firstDelivery[recipient, default: [:]][m.messageID] != nil { return false }
        firstDelivery[recipient, default: [:]][m.messageID] = Date()
        firstOrder[recipient, default: []].append(m.messageID)
        // File payloads are hashed and removed by the receiver: only in-memory ones are sampled (~1/4 of messages, random ids).
        if samples.count < sampleLimit, m.messageID.bytes[0] < 64, case .bytes = m.payload { samples.append(m) }
        return true
    }

    func acknowledged(_ id: MessageID, by recipient: String) {
        let key = Self.key(recipient, id)
        acked.insert(key)
        unacknowledged[key] = nil
    }
    func fault(_ text: String) { faults.append(text) }
    func refused(_ refusal: Refusal) { refusals.append(refusal) }

    func wasDelivered(_ id: MessageID, to recipient: String) -> Bool { firstDelivery[recipient]?[id] != nil }

    /// (message, recipient) pairs of confirmed messages not yet acknowledged.
    func pending() -> [(MessageID, String)] { Array(unacknowledged.values) }

    var pendingCount: Int { unacknowledged.count }

    func count(workflow: String) -> Int { counts[workflow] ?? 0 }
    var sentCounts: [String: Int] { counts }
    var deliveryCount: Int { deliveries.count }

    func snapshot() -> Snapshot {
        Snapshot(
            sent: sent, sentOrder: sentOrder, deliveries: deliveries, firstDelivery: firstDelivery, firstOrder: firstOrder,
            acked: acked, faults: faults, refusals: refusals, samples: samples)
    }

    struct Snapshot: Sendable {
        let sent: [MessageID: Sent]
        let sentOrder: [MessageID]
        let deliveries: [Delivery]
        let firstDelivery: [String: [MessageID: Date]]
        let firstOrder: [String: [MessageID]]
        let acked: Set<String>
        let faults: [String]
        let refusals: [Refusal]
        let samples: [ReceivedMessage]
    }
}
