import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport
import Synchronization

/// A test clock shared by store and broker.
final class TestClock: Sendable {
    let time = Mutex(Date(timeIntervalSince1970: 1_795_599_000))
    func now() -> Date { time.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { time.withLock { $0 += seconds } }
}

/// One participant's PKI material.
struct Party {
    let id: ParticipantID
    let certificate: Certificate
    let key: PrivateKey
}

/// A broker over a fresh store and registry in a temp dir, with PKI generated at run time (KlammerTestSupport's `TestCA`).
final class BrokerFixture {
    let dir: TemporaryDirectory
    let ca: CertificateAuthority
    let brokerCertificate: Certificate
    let brokerKey: PrivateKey
    let clock = TestClock()
    var parties: [String: Party] = [:]
    var registry: ParticipantRegistry
    var store: KlammerStore
    var broker: Broker
    let limits: ProtocolLimits
    let maxInline: Int

    static let sender = "ags:13004000"
    static let b = "ags:09162000"
    static let c = "ags:11000000"
    static let d = "ags:01001000"

    init(participants: [String] = [sender, b, c, d], limits: ProtocolLimits = .default, maxInline: Int = 64 << 10) async throws {
        dir = try TemporaryDirectory()
        let testCA = try TestCA("Broker Test CA")
        ca = testCA.authority
        let brokerLeaf = try testCA.issue("klammer-1", subjectAlternativeNames: ["DNS:localhost"], usage: .server)
        brokerKey = brokerLeaf.key
        brokerCertificate = brokerLeaf.certificate
        registry = try ParticipantRegistry(path: dir.file("registry.json"))
        for id in participants {
            let leaf = try testCA.issue(id)
            try registry.add(id: id, name: "Test \(id)", certificate: leaf.certificate)
            parties[id] = Party(id: try ParticipantID(id), certificate: leaf.certificate, key: leaf.key)
        }
        self.limits = limits
        self.maxInline = maxInline
        store = try await KlammerStore.open(Self.storeConfig(dir: dir, clock: clock))
        broker = try Self.makeBroker(
            dir: dir, cert: brokerCertificate, key: brokerKey, registry: registry, store: store,
            limits: limits, maxInline: maxInline, clock: clock)
    }

    static func storeConfig(dir: TemporaryDirectory, clock: TestClock) -> StoreConfiguration {
        var config = StoreConfiguration(directory: dir.file("store"))
        config.now = { clock.now() }
        return config
    }

    static func makeBroker(
        dir: TemporaryDirectory, cert: Certificate, key: PrivateKey, registry: ParticipantRegistry,
        store: KlammerStore, limits: ProtocolLimits, maxInline: Int, clock: TestClock
    ) throws -> Broker {
        var config = try BrokerConfiguration(
            brokerID: try ParticipantID("broker:klammer-1"), certificate: cert, key: key,
            directory: dir.file("broker"))
        config.limits = limits
        config.maxInlinePayload = maxInline
        config.now = { clock.now() }
        return try Broker(configuration: config, registry: registry, store: store)
    }

    /// Closes broker and store and opens everything again from disk (simulated restart).
    func restart() async throws {
        broker.close()
        await store.close()
        registry = try ParticipantRegistry(path: dir.file("registry.json"))
        store = try await KlammerStore.open(Self.storeConfig(dir: dir, clock: clock))
        broker = try Self.makeBroker(
            dir: dir, cert: brokerCertificate, key: brokerKey, registry: registry, store: store,
            limits: limits, maxInline: maxInline, clock: clock)
    }

    func party(_ id: String) -> Party { parties[id]! }
    func participant(_ id: String) -> Participant { registry.participant(id: id)! }

    func envelope(
        from sender: String = sender, to recipients: [String] = [b], payload: [UInt8],
        clientID: String = "az-2026-0001", declaredLength: UInt64? = nil, ttl: UInt32? = nil,
        createdAtMillis: UInt64? = nil
    ) throws -> Envelope {
        // By default the fixture's clock (1_795_599_000_000 until a test advances it), as a real sender's would be.
        let createdAtMillis = createdAtMillis ?? UInt64(clock.now().timeIntervalSince1970 * 1000)
        return try Envelope(
            clientMessageID: clientID, sender: ParticipantID(sender),
            recipients: recipients.map { try ParticipantID($0) }, subject: "Anhörung § 28",
            contentType: "application/pdf", createdAtMillis: createdAtMillis,
            payloadLength: declaredLength ?? UInt64(payload.count),
            payloadDigest: SHA256Digest(bytes: SHA256.hash(payload)), timeToLiveSeconds: ttl)
    }

    func sign(_ bytes: [UInt8], by id: String) throws -> [UInt8] {
        let p = party(id)
        return try CMS.signDetached(bytes, certificate: p.certificate, key: p.key)
    }

    /// Submits `envelope` as `connected`, streaming `payload` in 1000-byte chunks.
    func send(
        _ envelope: Envelope, payload: [UInt8], as connected: String? = nil,
        signature: [UInt8]? = nil, envelopeBytes: [UInt8]? = nil
    ) async throws -> SignedReceipt {
        let start = try broker.beginSubmission(
            from: participant(connected ?? envelope.sender.rawValue),
            envelopeBytes: envelopeBytes ?? envelope.canonicalBytes)
        guard case .upload(let submission) = start else {
            if case .duplicate(let original) = start { return original }
            fatalError("unreachable")
        }
        var offset = 0
        while offset < payload.count {
            let end = min(offset + 1000, payload.count)
            try submission.append(Array(payload[offset..<end]))
            offset = end
        }
        let sig = try signature ?? sign(envelope.canonicalBytes, by: envelope.sender.rawValue)
        return try await broker.finishSubmission(submission, signature: sig)
    }

    /// Starts an upload that must not be a duplicate.
    func begin(_ envelope: Envelope, as connected: String? = nil, form: SignatureForm = .single) throws -> PayloadSubmission {
        let start = try broker.beginSubmission(
            from: participant(connected ?? envelope.sender.rawValue),
            envelopeBytes: envelope.canonicalBytes, signatureForm: form)
        guard let submission = start.submission else { throw ProtocolError(.duplicate, "unexpected duplicate") }
        return submission
    }

    /// Finished blob files in the store (not counting uploads in progress).
    func finishedBlobCount() -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("store/blobs"))) ?? []
        return files.filter { $0.hasSuffix(".blob") }.count
    }

    /// Nothing queued for anybody.
    func storeIsEmpty() throws -> Bool {
        for id in parties.keys where try !store.browse(recipient: id).isEmpty { return false }
        let slipBytes = (try? FileManager.default.attributesOfItem(atPath: dir.file("broker/receipts.klog"))[.size] as? Int) ?? 0
        let parts = ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("store/blobs/tmp"))) ?? []).count
        return finishedBlobCount() == 0 && slipBytes == 0 && parts == 0
    }

    func verifyBrokerSignature(_ r: SignedReceipt) throws {
        try CMS.verifyDetached(signature: r.brokerSignature, content: r.receipt.canonicalBytes, signer: brokerCertificate)
    }
}
