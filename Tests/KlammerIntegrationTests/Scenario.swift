import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import KlammerTestSupport
import Synchronization

/// One run: a fresh `klammerd --config` (data dir in a temp dir, port 0, admin socket), the members registered
/// with `klammerctl participant add`, one `Agency` per member, the ledger.
final class Scenario: Sendable {
    let size: Size
    let pki: NetworkPKI
    let directory: TempDir
    let broker: BrokerProcess
    let ledger: Ledger
    let agencies: [String: Agency]
    let members: [Member]
    let deadline: Date
    /// Receive loops and fault injectors, cancelled by `shutdown()` (also when a test fails half-way).
    let background = Mutex<[Task<Void, Never>]>([])
    /// Directory entries looked up for end-to-end encryption, per participant.
    let directoryCache = Mutex<[String: DirectoryEntry]>([:])

    var adminSocket: String { directory.file("data/admin.sock") }

    /// - Parameter only: register only these members (fault tests that need a few); nil: all.
    init(size: Size = .current, only: Set<String>? = nil, proxied: [String: CutProxy] = [:]) async throws {
        self.size = size
        pki = try await SharedPKI.get()
        directory = try TempDir("kint")
        deadline = Date() + Double(size.deadline.components.seconds)
        let config = directory.file("klammer.yaml")
        try """
        broker_id: "broker:klammer-mv"
        data_dir: \(directory.file("data"))
        listen:
          host: 127.0.0.1
          port: 0
        tls:
          ca_bundle: \(pki.caPath)
          crl_files:
            - \(pki.crlPath)
          certificate: \(pki.brokerCert)
          key: \(pki.brokerKey)
        store:
          max_attempts: 1000
          visibility_timeout_seconds: 30
        log:
          level: warning
        audit:
          checkpoint_interval: 16

        """.write(toFile: config, atomically: true, encoding: .utf8)
        broker = BrokerProcess(
            configPath: config, logDirectory: directory.path, adminSocket: directory.file("data/admin.sock"),
            lifetimeSeconds: Int(size.deadline.components.seconds) + 300)
        ledger = Ledger(sampleLimit: size.opensslSample)
        try await broker.start()
        members = pki.members.filter { only?.contains($0.id) ?? true || $0.kind == .archive }
        var agencies: [String: Agency] = [:]
        for member in members {
            try Tool.klammerctl([
                "participant", "add", "--socket", directory.file("data/admin.sock"), "--id", member.id,
                "--name", member.name, "--cert", pki.certPath(member.id)
            ])
            let credentials = try ClientCredentials.load(
                ClientProfile(
                    certificatePath: pki.certPath(member.id), keyPath: pki.keyPath(member.id),
                    caPath: pki.caPath))
            agencies[member.id] = Agency(
                member: member, credentials: credentials, broker: broker, ledger: ledger,
                viaProxy: proxied[member.id])
        }
        self.agencies = agencies
    }

    func agency(_ id: String) -> Agency { agencies[id]! }
    func ctl(_ arguments: [String]) throws -> ProcessResult { try Tool.klammerctl(arguments + ["--socket", adminSocket]) }

    /// An operator's admin call while the broker may be restarting: retried while the socket does not answer.
    /// A change that reached the broker before the connection broke is then refused as already done
    /// (`invalid-transition`), which counts as success.
    @discardableResult
    func ctlDuringFaults(_ arguments: [String]) async throws -> ProcessResult {
        for attempt in 1...20 {
            let result = try Tool.run(Tool.binary("klammerctl"), arguments + ["--socket", adminSocket])
            if result.status == 0 { return result }
            if attempt > 1, result.stderr.contains("invalid-transition") { return result }
            // "(0 bytes)": the daemon was killed after accepting the admin connection, before it answered.
            let unreachable = [
                "cannot connect", "cannot read", "Connection refused", "No such file", "reset by peer", "Broken pipe",
                "(0 bytes)"
            ]
            guard unreachable.contains(where: result.stderr.contains) else {
                throw IntegrationError("klammerctl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw IntegrationError("klammerctl \(arguments.joined(separator: " ")): the admin socket did not answer")
    }

    /// SIGKILL + restart; proxies follow the new port.
    func crashAndRestart(proxies: [CutProxy] = []) async throws {
        try await broker.kill9()
        await ledger.fault("broker SIGKILL")
        try await broker.start()
        for proxy in proxies { proxy.setTarget(await broker.port) }
    }

    /// Runs `body` on a new scenario and always shuts it down (background tasks cancelled, connections closed,
    /// klammerd stopped), also when `body` throws: nothing may keep running into the next test or the process exit.
    static func with(
        only: Set<String>? = nil, proxied: [String: CutProxy] = [:],
        _ body: (Scenario) async throws -> Void
    ) async throws {
        let scenario = try await Scenario(only: only, proxied: proxied)
        do {
            try await body(scenario)
        } catch {
            print("klammerd log (last 4000 bytes):\n\(String(await scenario.broker.logs().suffix(4000)))")
            await scenario.shutdown()
            throw error
        }
        await scenario.shutdown()
    }

    /// Starts a background task that `shutdown()` cancels and awaits.
    @discardableResult
    func spawn(_ work: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        let task = Task { await work() }
        background.withLock { $0.append(task) }
        return task
    }

    func shutdown() async {
        let tasks = background.withLock { tasks in
            defer { tasks = [] }; return tasks
        }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        for agency in agencies.values { await agency.close() }
        try? await broker.stop()
    }

    /// Deterministic document bytes (different per message, so a mixed-up payload is caught).
    static func document(_ label: String, bytes: Int) -> [UInt8] {
        var out = [UInt8](); out.reserveCapacity(bytes)
        var seed = SHA256.hash(Array(label.utf8))
        while out.count < bytes {
            out.append(contentsOf: seed)
            seed = SHA256.hash(seed)
        }
        return Array(out.prefix(bytes))
    }

    /// Writes a deterministic document of `bytes` bytes to `path` in 1 MiB blocks (each block differs: its first 8
    /// bytes are the block number), hashing as it goes, without holding it in memory.
    /// - Returns: its SHA-256 and 32-byte pieces of it (start, middle, end) for the plaintext scan.
    static func writeDocument(_ label: String, bytes: Int, to path: String) throws -> (sha256: [UInt8], samples: [[UInt8]]) {
        let blockSize = 1 << 20
        var block = document(label, bytes: blockSize)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else { throw IntegrationError("cannot create \(path)") }
        defer { try? handle.close() }
        let hasher = SHA256.Hasher()
        var samples: [[UInt8]] = []
        let lastBlock = (bytes - 1) / blockSize
        for index in 0...lastBlock {
            withUnsafeBytes(of: UInt64(index).littleEndian) { block.replaceSubrange(0..<8, with: $0) }
            let piece = index == lastBlock ? Array(block.prefix(bytes - index * blockSize)) : block
            if index == 0 || index == lastBlock / 2 || index == lastBlock, piece.count >= 1064 {
                samples.append(Array(piece[1000..<1032]))
                samples.append(Array(piece[(piece.count - 32)...]))
            }
            hasher.update(piece)
            try handle.write(contentsOf: piece)
        }
        return (hasher.finalize(), samples)
    }

    /// Three 32-byte pieces of a document (start, middle, end) for the plaintext scan.
    static func samples(of document: [UInt8]) -> [[UInt8]] {
        guard document.count >= 96 else { return [] }
        let middle = document.count / 2
        return [Array(document[0..<32]), Array(document[middle..<(middle + 32)]), Array(document[(document.count - 32)...])]
    }

    /// Prepares and sends (with retries) a message; records it in the ledger.
    @discardableResult
    /// - Parameter encrypted: end to end (CMS AuthEnvelopedData for the recipients' directory certificates); the
    ///   ledger keeps the plaintext's hash and pieces of it for the plaintext scan.
    func send(
        from sender: String, to recipients: [String], workflow: String, clientID: String, subject: String,
        contentType: String = "application/pdf", payload: [UInt8], encrypted: Bool = false, sequence: Int? = nil,
        ttl: UInt32? = nil, inReplyTo: MessageID? = nil, progress: KlammerClient.Progress? = nil
    ) async throws -> SignedReceipt {
        guard encrypted else {
            return try await send(
                from: sender, to: recipients, workflow: workflow, clientID: clientID, subject: subject, contentType: contentType,
                source: .bytes(payload), sha256: SHA256.hash(payload), sequence: sequence, ttl: ttl, inReplyTo: inReplyTo,
                progress: progress)
        }
        let ciphertext = try CMS.encrypt(payload, recipients: try await encryptionCertificates(for: recipients, asking: sender))
        return try await send(
            from: sender, to: recipients, workflow: workflow, clientID: clientID, subject: subject,
            contentType: EncryptedPayload.contentType, source: .bytes(ciphertext), sha256: SHA256.hash(ciphertext),
            sequence: sequence, ttl: ttl, inReplyTo: inReplyTo, plaintextSamples: Self.samples(of: payload),
            plaintextSHA256: SHA256.hash(payload), progress: progress)
    }

    /// The recipients' encryption certificates from the broker's directory (looked up by `sender`, once per recipient).
    func encryptionCertificates(for recipients: [String], asking sender: String) async throws -> [Certificate] {
        var entries: [DirectoryEntry] = []
        for recipient in recipients {
            if let cached = directoryCache.withLock({ $0[recipient] }) { entries.append(cached); continue }
            let entry = try await agency(sender).directoryEntry(try ParticipantID(recipient), deadline: deadline)
            directoryCache.withLock { $0[recipient] = entry }
            entries.append(entry)
        }
        return try EncryptedPayload.recipientCertificates(entries)
    }

    /// Prepares and sends (with retries) a message whose payload may be a file; records it in the ledger.
    /// - Parameter plaintextSamples: pieces of an end-to-end encrypted payload that must not be found in the broker's data.
    @discardableResult
    func send(
        from sender: String, to recipients: [String], workflow: String, clientID: String, subject: String,
        contentType: String = "application/pdf", source: PayloadSource, sha256: [UInt8], sequence: Int? = nil,
        ttl: UInt32? = nil, inReplyTo: MessageID? = nil, plaintextSamples: [[UInt8]] = [], plaintextSHA256: [UInt8]? = nil,
        progress: KlammerClient.Progress? = nil
    ) async throws -> SignedReceipt {
        let agency = agency(sender)
        let prepared = try PreparedMessage.prepare(
            credentials: agency.credentials, recipients: try recipients.map { try ParticipantID($0) },
            subject: subject, contentType: contentType, payload: source,
            clientMessageID: clientID, timeToLiveSeconds: ttl, inReplyTo: inReplyTo)
        return try await agency.send(
            prepared, workflow: workflow, sequence: sequence, payloadSHA256: sha256,
            plaintextSamples: plaintextSamples, plaintextSHA256: plaintextSHA256, deadline: deadline,
            progress: progress)
    }
}
