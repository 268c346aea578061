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
    }
    struct Delivery: Sendable {
        let recipient: String
        let messageID: MessageID
        let sender: String
        let clientMessageID: String
        let at: Date
        let verified: Bool
        let payloadSHA256: [UInt8]
    }

    private(set) var sent: [MessageID: Sent] = [:]
    private var sentOrder: [MessageID] = []
    private(set) var deliveries: [Delivery] = []
    private var firstDelivery: [String: [MessageID: Date]] = [:]
    /// Per recipient, message ids in the order of their first delivery.
    private var firstOrder: [String: [MessageID]] = [:]
    private(set) var acked: Set<String> = []
    private(set) var faults: [String] = []
    private(set) var refusals: [String] = []
    /// A sample of received messages for `openssl cms -verify`.
    private(set) var samples: [ReceivedMessage] = []
    let sampleLimit: Int

    init(sampleLimit: Int) { self.sampleLimit = sampleLimit }

    static func key(_ recipient: String, _ id: MessageID) -> String { recipient + "/" + id.hex }

    func confirmed(_ s: Sent) {
        if sent[s.receipt.receipt.messageID] == nil { sentOrder.append(s.receipt.receipt.messageID) }
        sent[s.receipt.receipt.messageID] = s
    }

    /// Records a delivery; returns true if it is the first one of this message to this recipient.
    func delivered(_ m: ReceivedMessage, to recipient: String) -> Bool {
        let digest: [UInt8]
        switch m.payload {
        case .bytes(let b): digest = SHA256.hash(b)
        case .file(let path): digest = (try? SHA256.hash([UInt8](Data(contentsOf: URL(fileURLWithPath: path))))) ?? []
        }
        deliveries.append(Delivery(recipient: recipient, messageID: m.messageID, sender: m.envelope.sender.description,
                                   clientMessageID: m.envelope.clientMessageID, at: Date(), verified: m.isVerified,
                                   payloadSHA256: digest))
        if firstDelivery[recipient, default: [:]][m.messageID] != nil { return false }
        firstDelivery[recipient, default: [:]][m.messageID] = Date()
        firstOrder[recipient, default: []].append(m.messageID)
        if samples.count < sampleLimit, m.messageID.bytes[0] < 64 { samples.append(m) }  // ~1/4 of messages, random ids
        return true
    }

    func acknowledged(_ id: MessageID, by recipient: String) { acked.insert(Self.key(recipient, id)) }
    func fault(_ text: String) { faults.append(text) }
    func refused(_ text: String) { refusals.append(text) }

    func wasDelivered(_ id: MessageID, to recipient: String) -> Bool { firstDelivery[recipient]?[id] != nil }

    /// (message, recipient) pairs of confirmed messages not yet acknowledged.
    func pending() -> [(MessageID, String)] {
        sentOrder.flatMap { id in sent[id]!.recipients.filter { !acked.contains(Self.key($0, id)) }.map { (id, $0) } }
    }

    func count(workflow: String) -> Int { sent.values.filter { $0.workflow == workflow }.count }

    func snapshot() -> Snapshot {
        Snapshot(sent: sent, sentOrder: sentOrder, deliveries: deliveries, firstDelivery: firstDelivery, firstOrder: firstOrder,
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
        let refusals: [String]
        let samples: [ReceivedMessage]
    }
}
