import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import Logging

/// One authority's scripted client: one `KlammerClient` connection shared by its sending workflows and its receive
/// loop, re-established after a lost connection (broker killed, connection cut); sends are retried with the same
/// prepared message (same client message id), so the broker answers a retry with the original receipt.
actor Agency {
    let member: Member
    let credentials: ClientCredentials
    let broker: BrokerProcess
    let ledger: Ledger
    /// Where to connect instead of the broker (a cuttable proxy), if set.
    let viaProxy: CutProxy?
    private var client: KlammerClient?
    private var connecting: Task<KlammerClient, any Error>?
    private(set) var reconnects = 0
    /// Set when the operator revoked this participant: a refused handshake is then final.
    private(set) var revoked = false
    /// Called for the first delivery of each message (after it was recorded), e.g. to answer it.
    private var onMessage: (@Sendable (ReceivedMessage) async -> Void)?
    private var handled: Set<MessageID> = []
    private var handlers: [Task<Void, Never>] = []

    init(member: Member, credentials: ClientCredentials, broker: BrokerProcess, ledger: Ledger, viaProxy: CutProxy? = nil) {
        self.member = member
        self.credentials = credentials
        self.broker = broker
        self.ledger = ledger
        self.viaProxy = viaProxy
    }

    var id: ParticipantID { try! ParticipantID(member.id) }

    func markRevoked() { revoked = true }

    func setHandler(_ handler: @escaping @Sendable (ReceivedMessage) async -> Void) { onMessage = handler }

    func connection() async throws -> KlammerClient {
        if let client { return client }
        if let connecting { return try await connecting.value }
        let task = Task { [broker, credentials, viaProxy] () throws -> KlammerClient in
            let port = if let viaProxy { viaProxy.port } else { await broker.port }
            // Lost connections are the point of this suite: only warnings and worse from the client.
            var logger = Logger(label: "klammer.client")
            logger.logLevel = .warning
            return try await KlammerClient.connect(host: "127.0.0.1", port: port, credentials: credentials, logger: logger)
        }
        connecting = task
        defer { connecting = nil }
        let c = try await task.value
        client = c
        return c
    }

    /// Forgets a connection that failed (only if it is still the current one) and closes it in the background.
    func drop(_ failed: KlammerClient?) {
        guard let failed, let current = client, current === failed else { return }
        client = nil
        reconnects += 1
        Task { await failed.close() }
    }

    /// Closes the current connection (the next call connects anew).
    func disconnect() async {
        if let client { self.client = nil; await client.close() }
    }

    func close() async {
        for handler in handlers { handler.cancel() }
        for handler in handlers { await handler.value }
        handlers = []
        onMessage = nil  // the handler captures the scenario, which holds this agency: break the cycle
        if let client { self.client = nil; await client.close() }
    }

    /// Sends with retries until confirmed or `deadline`; a non-retryable refusal is thrown at once.
    func send(
        _ prepared: PreparedMessage, workflow: String, sequence: Int? = nil, payloadSHA256: [UInt8],
        plaintextSamples: [[UInt8]] = [], plaintextSHA256: [UInt8]? = nil, deadline: Date,
        progress: KlammerClient.Progress? = nil
    ) async throws -> SignedReceipt {
        let started = Date()
        // A refused participant gets ERROR(0, code) (`.participantRefused`, not retryable); a connection cut or a
        // broker restart during the handshake is `.connectionFailed` (retryable).
        let receipt = try await retrying(until: deadline) { c in try await c.send(prepared, progress: progress) }
        await ledger.confirmed(
            .init(
                workflow: workflow, sender: member.id, recipients: prepared.envelope.recipients.map(\.description),
                clientMessageID: prepared.envelope.clientMessageID, payloadSHA256: payloadSHA256,
                sequence: sequence, startedAt: started, receipt: receipt,
                plaintextSamples: plaintextSamples, plaintextSHA256: plaintextSHA256))
        return receipt
    }

    /// Runs `body` on the current connection; a retryable client error drops that connection and tries again on a
    /// new one (growing pause, at most 1 s) until `deadline`, any other error is thrown.
    func retrying<T: Sendable>(until deadline: Date, _ body: (KlammerClient) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            var used: KlammerClient?
            do {
                let c = try await connection()
                used = c
                return try await body(c)
            } catch let error as KlammerClientError where error.isRetryable && Date() < deadline {
                drop(used)
                try await Task.sleep(for: .milliseconds(min(1000, 50 * attempt)))
            } catch {
                drop(used)
                throw error
            }
        }
    }

    /// A participant's directory entry (its encryption certificates, signed by the broker), retried across lost
    /// connections until `deadline`.
    func directoryEntry(_ id: ParticipantID, deadline: Date) async throws -> DirectoryEntry {
        try await retrying(until: deadline) { c in try await c.directory(for: id) }
    }

    /// Fetches, records, verifies and acknowledges until cancelled; reconnects after failures.
    /// - Parameter options: where payloads go; with a directory, each payload file is hashed (streaming) and
    ///   deleted once recorded (a GiB document never sits in this process's memory).
    func receiveLoop(batch: Int = 64, pause: Duration = .milliseconds(0), options: ReceiveOptions = ReceiveOptions()) async {
        while !Task.isCancelled {
            var used: KlammerClient?
            do {
                let c = try await connection()
                used = c
                var received = 0
                // ACKs go out concurrently (each waits for its fsynced receipt): one at a time, a district that
                // receives from 40 municipalities falls behind and its leases expire before it acknowledges.
                try await withThrowingTaskGroup(of: Void.self) { acks in
                    for try await event in try await c.fetch(max: batch, options: options) {
                        guard case .message(let message) = event else { continue }
                        received += 1
                        let (digest, plaintext) = try Self.digests(of: message, credentials: credentials)
                        _ = await ledger.delivered(message, to: member.id, digest: digest, plaintextDigest: plaintext)
                        guard message.isVerified else { continue }  // never acknowledge what does not verify
                        // The application reacts once per message id (client-side de-duplication), even if the
                        // ACK below is lost and the message comes again.
                        if let onMessage, handled.insert(message.messageID).inserted {
                            handlers.append(Task { await onMessage(message) })
                        }
                        if pause > .zero {
                            try await Task.sleep(for: pause)
                            _ = try await c.acknowledge(message)  // a slow consumer acknowledges one by one
                            await ledger.acknowledged(message.messageID, by: member.id)
                            continue
                        }
                        acks.addTask { [ledger, member] in
                            _ = try await c.acknowledge(message)
                            await ledger.acknowledged(message.messageID, by: member.id)
                        }
                    }
                    try await acks.waitForAll()
                }
                if received == 0 { try await Task.sleep(for: .milliseconds(60)) }
            } catch is CancellationError {
                return
            } catch let error as KlammerClientError where error.kind == .participantRefused {
                // Revoked, suspended or removed: reconnecting cannot help (and every attempt would be audited).
                await ledger.fault("receiver stopped: \(member.id) refused with \(error.name)")
                return
            } catch {
                drop(used)
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// SHA-256 of a received payload and, if it is end-to-end encrypted, of what this agency decrypts (nil if it
    /// cannot). A file payload is hashed and decrypted streaming, and removed afterwards.
    static func digests(of message: ReceivedMessage, credentials: ClientCredentials) throws -> (payload: [UInt8], plaintext: [UInt8]?) {
        let encrypted = EncryptedPayload.isEncrypted(message.envelope)
        switch message.payload {
        case .bytes(let bytes):
            let plaintext =
                encrypted
                ? (try? CMS.decrypt(bytes, certificate: credentials.certificate, key: credentials.privateKey)).map(SHA256.hash) : nil
            return (SHA256.hash(bytes), plaintext)
        case .file(let path):
            defer { try? FileManager.default.removeItem(atPath: path) }
            let digest = try sha256(ofFile: path)
            guard encrypted else { return (digest, nil) }
            let plain = path + ".plain"
            defer { try? FileManager.default.removeItem(atPath: plain) }
            guard (try? CMS.decryptFile(at: path, to: plain, certificate: credentials.certificate, key: credentials.privateKey)) != nil
            else {
                return (digest, nil)
            }
            return (digest, try sha256(ofFile: plain))
        }
    }

    /// SHA-256 of a file, read in 4 MiB pieces.
    static func sha256(ofFile path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw IntegrationError("cannot read \(path)") }
        defer { try? handle.close() }
        let hasher = SHA256.Hasher()
        while let data = try handle.read(upToCount: 4 << 20), !data.isEmpty { hasher.update(data) }
        return hasher.finalize()
    }
}
