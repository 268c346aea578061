import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerStore
import KlammerTLS
import KlammerTestSupport
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A participant's (or the broker's) credentials.
struct TestIdentity: Sendable {
    let id: String
    let certificate: Certificate
    let key: PrivateKey
}

/// PKI generated at run time (KlammerTestSupport's `TestCA`), shared by the suite (key generation costs time).
enum TestPKI {
    static let ca = try! TestCA("Klammer Server Test CA").authority
    static let broker = try! issue("klammer-test-broker", usage: .clientAndServer, san: ["DNS:localhost", "IP:127.0.0.1"])
    static let a = try! issue("ags:13004000")
    static let b = try! issue("ags:09162000")
    static let c = try! issue("ags:11000000")
    /// Same CA, never registered.
    static let stranger = try! issue("ags:01001000")
    static var trust: TrustStore { TestCA(ca).trustStore }

    static func issue(_ id: String, usage: CertificateAuthority.Usage = .client, san: [String]? = nil) throws -> TestIdentity {
        let leaf = try TestCA(ca).issue(id, subjectAlternativeNames: san, usage: usage)
        return TestIdentity(id: id, certificate: leaf.certificate, key: leaf.key)
    }
}

/// An in-process broker (BrokerDaemon in a ServiceGroup) on 127.0.0.1 with a fresh store and registry holding
/// participants a, b and c.
final class ServerFixture: Sendable {
    static let brokerID = "broker:klammer-test"
    let directory: String
    let registry: ParticipantRegistry
    let daemon: BrokerDaemon
    let group: ServiceGroup
    let runTask: Task<Void, any Error>
    let port: Int

    static var quietLogger: Logger { Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }) }

    static func start(
        limits: ProtocolLimits = .default, maxInline: Int = 256 << 10,
        configure: @Sendable (inout SessionConfiguration) -> Void = { _ in }
    ) async throws -> ServerFixture {
        let directory = NSTemporaryDirectory() + "klammer-session-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let registry = try ParticipantRegistry(path: directory + "/registry.json")
        for p in [TestPKI.a, TestPKI.b, TestPKI.c] {
            try registry.add(id: p.id, name: "Test \(p.id)", certificate: p.certificate)
        }
        var brokerConfig = try BrokerConfiguration(
            brokerID: try ParticipantID(brokerID), certificate: TestPKI.broker.certificate,
            key: TestPKI.broker.key, directory: directory + "/broker")
        brokerConfig.limits = limits
        brokerConfig.maxInlinePayload = maxInline
        var session = SessionConfiguration(limits: limits, brokerID: brokerConfig.brokerID)
        configure(&session)
        let tls = try TLSContext(
            configuration: .server(
                certificateChain: [TestPKI.broker.certificate],
                privateKey: TestPKI.broker.key, trustStore: TestPKI.trust))
        let bound = Mutex<Int>(0)
        let daemon = BrokerDaemon(
            host: "127.0.0.1", port: 0, tlsContext: tls, registry: registry,
            storeConfiguration: StoreConfiguration(directory: directory + "/store"),
            brokerConfiguration: brokerConfig, sessionConfiguration: session,
            drainTimeout: .seconds(5), logger: quietLogger,
            onListening: { address in bound.withLock { $0 = address.port ?? 0 } })
        let group = ServiceGroup(configuration: .init(services: [.init(service: daemon)], logger: quietLogger))
        let runTask = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        var port = 0
        while port == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            port = bound.withLock { $0 }
        }
        guard port != 0 else {
            await group.triggerGracefulShutdown()
            throw ProtocolError(.internalError, "the test broker did not start listening")
        }
        return ServerFixture(directory: directory, registry: registry, daemon: daemon, group: group, runTask: runTask, port: port)
    }

    private init(
        directory: String, registry: ParticipantRegistry, daemon: BrokerDaemon, group: ServiceGroup,
        runTask: Task<Void, any Error>, port: Int
    ) {
        self.directory = directory
        self.registry = registry
        self.daemon = daemon
        self.group = group
        self.runTask = runTask
        self.port = port
    }

    /// Graceful shutdown; waits for the daemon to finish.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await runTask.value
        try? FileManager.default.removeItem(atPath: directory)
    }

    func connect(_ identity: TestIdentity) async throws -> TestFrameClient {
        try await TestFrameClient.connect(port: port, identity: identity, trust: TestPKI.trust)
    }

    /// Connects and completes HELLO/WELCOME.
    func session(_ identity: TestIdentity) async throws -> TestFrameClient {
        let client = try await connect(identity)
        let welcome = try await client.hello()
        try #require(welcome != nil, "no WELCOME for \(identity.id)")
        return client
    }
}

// MARK: Message helpers

func makeEnvelope(
    from sender: TestIdentity, to recipients: [TestIdentity], payload: [UInt8],
    clientID: String = "az-\(UUID().uuidString.prefix(8))"
) throws -> Envelope {
    try Envelope(
        clientMessageID: clientID, sender: ParticipantID(sender.id),
        recipients: recipients.map { try ParticipantID($0.id) }, subject: "Anhörung § 28",
        contentType: "application/pdf", createdAtMillis: UInt64(Date().timeIntervalSince1970 * 1000),
        payloadLength: UInt64(payload.count), payloadDigest: SHA256Digest(bytes: SHA256.hash(payload)),
        timeToLiveSeconds: nil)
}

extension TestFrameClient {
    /// SEND_BEGIN → READY → CHUNKs (within `chunkSize`) → SEND_END; returns the broker's final answer
    /// (ACCEPTED or ERROR), or the first unexpected frame. RECEIPT events of subscriptions are skipped, and so is the
    /// `rejected` receipt that precedes a refusal (see ``uploadRejected``).
    func upload(
        requestID: UInt32, envelope: Envelope, payload: [UInt8], signer: TestIdentity? = nil,
        signature: [UInt8]? = nil, chunkSize: Int = 64 << 10
    ) async throws -> Frame? {
        try await uploadRejected(
            requestID: requestID, envelope: envelope, payload: payload, signer: signer,
            signature: signature, chunkSize: chunkSize
        ).answer
    }

    /// As ``upload``, also returning the signed `rejected` receipt the broker sent for this request before its ERROR.
    func uploadRejected(
        requestID: UInt32, envelope: Envelope, payload: [UInt8], signer: TestIdentity? = nil,
        signature: [UInt8]? = nil, chunkSize: Int = 64 << 10
    ) async throws -> (answer: Frame?, rejected: SignedReceipt?) {
        try await send(.sendBegin(.init(requestID: requestID, signatureForm: .single, envelope: envelope)))
        var rejected: SignedReceipt?
        // Receipt events of a subscription on the same connection may come at any point; they are not the answer.
        func answer() async -> Frame? {
            while let f = await nextSignificant() {
                if case .receipt(let event) = f, event.requestID != requestID { continue }
                if case .receipt(let event) = f, event.receipt.receipt.kind == .rejected {
                    rejected = event.receipt
                    continue
                }
                return f
            }
            return nil
        }
        let first = await answer()
        guard case .ready = first else { return (first, rejected) }
        var offset = 0
        while offset < payload.count {
            let end = min(offset + chunkSize, payload.count)
            try await send(.chunk(.init(requestID: requestID, offset: UInt64(offset), data: ByteBuffer(bytes: payload[offset..<end]))))
            offset = end
        }
        let cms =
            try signature
            ?? CMS.signDetached(
                envelope.canonicalBytes, certificate: (signer ?? TestPKI.a).certificate,
                key: (signer ?? TestPKI.a).key)
        try await send(.sendEnd(.init(requestID: requestID, signature: .single(cms: cms))))
        let final = await answer()
        return (final, rejected)
    }

    /// Reads one delivery (DELIVER_BEGIN, chunks, END) and returns it with the payload.
    func receiveDelivery() async -> (begin: Frame.DeliverBegin, payload: [UInt8])? {
        guard case .deliverBegin(let begin) = await nextSignificant() else { return nil }
        return await receiveDelivery(after: begin)
    }

    /// The rest of a delivery whose DELIVER_BEGIN was already read.
    func receiveDelivery(after begin: Frame.DeliverBegin) async -> (begin: Frame.DeliverBegin, payload: [UInt8])? {
        var payload: [UInt8] = []
        while let f = await nextSignificant() {
            switch f {
            case .deliverChunk(let c):
                guard c.offset == UInt64(payload.count) + begin.offset else { return nil }
                payload += Array(c.data.readableBytesView)
            case .deliverEnd(let e):
                return e.messageID == begin.storedEnvelope.messageID ? (begin, payload) : nil
            default:
                return nil
            }
        }
        return nil
    }
}

/// The ERROR frame in `frame`, if it is one.
func errorFrame(_ frame: Frame?) -> Frame.ErrorFrame? {
    if case .error(let e) = frame { return e }
    return nil
}

/// Runs `body` against a fresh in-process broker and always shuts it down gracefully afterwards.
func withServer(
    limits: ProtocolLimits = .default, maxInline: Int = 256 << 10,
    configure: @Sendable (inout SessionConfiguration) -> Void = { _ in },
    _ body: (ServerFixture) async throws -> Void
) async throws {
    let server = try await ServerFixture.start(limits: limits, maxInline: maxInline, configure: configure)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Byte equality that reports only true/false (payloads are too long to print in a failed expectation).
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool { a == b }
