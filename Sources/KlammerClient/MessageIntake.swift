public import Foundation
public import KlammerProtocol

/// What `klammer receive` does with each delivered message (SPEC.md §5.10): store it durably in its message
/// directory, decrypt an encrypted payload (fsynced too), and only then — if asked to and if it verified and could be
/// read — acknowledge it. The ACK is sent after every fsync and rename returned, so a crash after the ACK never loses
/// a message at the recipient that the broker already dropped.
public struct MessageIntake: Sendable {
    /// What happened to one message.
    public struct Outcome: Sendable {
        /// Where the message is.
        public let placement: MessageDirectory.Placement
        /// Why it was not verified, or nil.
        public let verificationError: KlammerClientError?
        /// Why it could not be decrypted, or nil.
        public let decryptionError: KlammerClientError?
        /// True if the payload was decrypted (now or in an earlier run).
        public let decrypted: Bool
        /// True if the ACK was sent and answered with an `acknowledged` receipt.
        public let acknowledged: Bool
        /// True if the message verified and, if encrypted, was decrypted.
        public var isGood: Bool { verificationError == nil && decryptionError == nil }
    }

    /// The output directory (`--out`).
    public let outDirectory: String
    /// True to acknowledge each good message (`--ack`).
    public let acknowledge: Bool
    /// How writes are made durable (tests observe or inject faults).
    public let sync: DurableSync

    /// - Parameters:
    ///   - outDirectory: existing directory the message directories go into.
    ///   - acknowledge: acknowledge each message that verified and could be decrypted.
    ///   - sync: durability steps (default: real fsyncs).
    public init(outDirectory: String, acknowledge: Bool, sync: DurableSync = .standard) {
        self.outDirectory = outDirectory
        self.acknowledge = acknowledge
        self.sync = sync
    }

    /// Stores, decrypts, acknowledges (in that order) and records the receipts known afterwards.
    public func handle(_ message: ReceivedMessage, client: KlammerClient) async throws(KlammerClientError) -> Outcome {
        let placement = try MessageDirectory.store(
            message, into: outDirectory, brokerCertificate: await client.brokerCertificate,
            trustStore: client.credentials.trustStore, sync: sync)
        let directory = placement.directory
        var receipts = (try? await client.status(message.messageID)) ?? []
        // An encrypted payload is decrypted before it is acknowledged: a message this participant cannot read is
        // not taken responsibility for.
        var decryptionError: KlammerClientError? = nil
        var decrypted = false
        if message.isVerified, EncryptedPayload.isEncrypted(message.envelope) {
            do {
                if Self.needsDecryption(directory) {
                    try MessageDirectory.decryptPayload(in: directory, envelope: message.envelope, credentials: client.credentials)
                    try sync.syncFile((directory as NSString).appendingPathComponent(MessageDirectory.payloadFile))
                    try sync.syncDirectory(directory)
                }
                decrypted = true
            } catch { decryptionError = error }
        }
        var acknowledged = false
        if acknowledge, message.isVerified, decryptionError == nil {
            let receipt = try await client.acknowledge(message)
            if !receipts.contains(receipt) { receipts.append(receipt) }
            acknowledged = true
        }
        try MessageDirectory.writeReceipts(receipts, in: directory, sync: sync)
        return Outcome(
            placement: placement, verificationError: message.verificationError, decryptionError: decryptionError,
            decrypted: decrypted, acknowledged: acknowledged)
    }

    /// True unless an earlier run already decrypted this directory (`payload.cms` and `payload` both present; the
    /// decrypted `payload` only appears by rename after its GCM tag verified).
    static func needsDecryption(_ directory: String) -> Bool {
        func exists(_ name: String) -> Bool {
            FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(name))
        }
        return !(exists(MessageDirectory.encryptedPayloadFile) && exists(MessageDirectory.payloadFile))
    }
}
