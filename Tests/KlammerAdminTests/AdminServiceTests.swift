import Foundation
import KlammerAdmin
import KlammerAudit
import KlammerBroker
import KlammerCrypto
import KlammerTestSupport
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The admin API's operations and their audit trail, called in-process, and once over the real Unix socket.
struct AdminServiceTests {
    final class Fixture {
        let directory: String
        let ca: CertificateAuthority
        let registry: ParticipantRegistry
        let audit: AuditLog
        let service: AdminService
        let brokerCertificate: Certificate
        let peer = PeerCredentials(pid: 4242, uid: UInt32(getuid()), gid: 0)

        init() throws {
            directory = NSTemporaryDirectory() + "klammer-admin-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            ca = try TestCA("Admin Test CA", keyKind: .p256).authority
            let crl = try ca.makeCRL(revoked: [], nextUpdate: Date() + 86400)
            let broker = try TestCA(ca).issue("broker", subjectAlternativeNames: [], usage: .clientAndServer)
            let brokerKey = broker.key
            brokerCertificate = broker.certificate
            registry = try ParticipantRegistry(path: directory + "/registry.json")
            audit = try AuditLog(
                path: directory + "/audit.jsonl", signer: try .init(certificate: brokerCertificate, key: brokerKey),
                checkpointInterval: 1000)
            service = AdminService(
                registry: registry, audit: audit, brokerID: "broker:test", version: "9.9.9", mode: "test",
                trustStore: TrustStore(anchors: [ca.certificate], crls: [crl]), brokerCertificate: brokerCertificate)
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func certificatePEM(for id: String, authority: CertificateAuthority? = nil) throws -> String {
            try TestCA(authority ?? ca).issue(id).certificate.pemString
        }

        func call(_ method: String, _ uri: String, _ body: (some Encodable)? = Optional<String>.none) throws -> AdminService.Response {
            let bytes = try body.map { Array(try AdminJSON.encoder().encode($0)) } ?? []
            return service.handle(method: method, uri: uri, body: bytes, peer: peer)
        }

        func decode<T: Decodable>(_ type: T.Type, _ response: AdminService.Response) throws -> T {
            try AdminJSON.decoder().decode(type, from: Data(response.body))
        }

        func errorCode(_ response: AdminService.Response) -> String? {
            AdminError.decode(status: response.status, body: response.body)?.code.name
        }

        func lastEntry() throws -> AuditEntry {
            try #require(try AuditLog.tail(path: audit.path, count: 1).first)
        }
    }

    @Test func participantLifecycleIsCarriedOutAndAudited() throws {
        let fixture = try Fixture()
        let add = try fixture.call(
            "POST", "/v1/participants",
            AddParticipantRequest(
                id: "ags:13004000", name: "Landeshauptstadt Schwerin", certificatePem: try fixture.certificatePEM(for: "ags:13004000")))
        #expect(add.status == 201)
        let added = try fixture.decode(AdminParticipantView.self, add)
        #expect(added.status == "active")
        #expect(added.policy == ["*"])
        var entry = try fixture.lastEntry()
        #expect(entry.action == "participant.add")
        #expect(entry.subject == "ags:13004000")
        #expect(entry.actor == "uid:\(getuid()) pid:4242")
        #expect(entry.outcome == .ok)
        #expect(entry.details["fingerprint"] == added.certificates.first?.fingerprint)

        let list = try fixture.decode([AdminParticipantView].self, try fixture.call("GET", "/v1/participants"))
        #expect(list.map(\.id) == ["ags:13004000"])
        #expect(try fixture.lastEntry().action == "participant.list")

        #expect(try fixture.call("POST", "/v1/participants/ags:13004000/suspend").status == 200)
        #expect(fixture.registry.participant(id: "ags:13004000")?.status == .suspended)
        entry = try fixture.lastEntry()
        #expect(entry.details == ["from": "active", "to": "suspended"])
        #expect(try fixture.call("POST", "/v1/participants/ags:13004000/resume").status == 200)
        #expect(fixture.registry.participant(id: "ags:13004000")?.status == .active)
        #expect(try fixture.call("POST", "/v1/participants/ags:13004000/revoke").status == 200)

        // Revocation is final: refused, recorded as refused with the reason.
        let resume = try fixture.call("POST", "/v1/participants/ags:13004000/resume")
        #expect(resume.status == 409)
        #expect(fixture.errorCode(resume) == "invalid-transition")
        entry = try fixture.lastEntry()
        #expect(entry.outcome == .refused)
        #expect(entry.details["code"] == "invalid-transition")

        #expect(try fixture.call("DELETE", "/v1/participants/ags:13004000").status == 200)
        #expect(fixture.registry.participant(id: "ags:13004000") == nil)
        let missing = try fixture.call("GET", "/v1/participants/ags:13004000")
        #expect(missing.status == 404)
        #expect(fixture.errorCode(missing) == "unknown-participant")

        let report = try AuditVerifier.verify(path: fixture.audit.path, brokerCertificate: fixture.brokerCertificate)
        #expect(report.isIntact)
        #expect(report.entries == 8)
    }

    @Test func certificateRolloverAndPolicy() throws {
        let fixture = try Fixture()
        let first = try fixture.certificatePEM(for: "ags:13003000")
        #expect(
            try fixture.call("POST", "/v1/participants", AddParticipantRequest(id: "ags:13003000", name: "Rostock", certificatePem: first))
                .status == 201)
        let firstFingerprint = try Certificate(pem: first).fingerprint.hex

        // The only certificate of an active participant cannot be removed (it would lock the participant out).
        let lockout = try fixture.call("DELETE", "/v1/participants/ags:13003000/certificates/\(firstFingerprint)")
        #expect(lockout.status == 409)
        #expect(fixture.errorCode(lockout) == "last-certificate")

        let second = try fixture.certificatePEM(for: "ags:13003000")
        let rolled = try fixture.call("POST", "/v1/participants/ags:13003000/certificates", AddCertificateRequest(certificatePem: second))
        #expect(try fixture.decode(AdminParticipantView.self, rolled).certificates.count == 2)
        let removed = try fixture.call("DELETE", "/v1/participants/ags:13003000/certificates/\(firstFingerprint)")
        #expect(removed.status == 200)
        #expect(
            try fixture.decode(AdminParticipantView.self, removed).certificates.map(\.fingerprint) == [
                try Certificate(pem: second).fingerprint.hex
            ])
        #expect(try fixture.lastEntry().details["fingerprint"] == firstFingerprint)

        let policy = try fixture.call("PUT", "/v1/participants/ags:13003000/policy", SetPolicyRequest(allow: ["ags:13*"]))
        #expect(try fixture.decode(AdminParticipantView.self, policy).policy == ["ags:13*"])
        #expect(try fixture.lastEntry().details == ["from": "*", "to": "ags:13*"])
        let badPolicy = try fixture.call("PUT", "/v1/participants/ags:13003000/policy", SetPolicyRequest(allow: ["not a pattern"]))
        #expect(badPolicy.status == 400)
        #expect(fixture.errorCode(badPolicy) == "invalid-policy")
    }

    @Test func certificatesAreChecked() throws {
        let fixture = try Fixture()
        // From another CA: TLS would refuse it, so registering it is refused.
        let stranger = try CertificateAuthority.create(commonName: "Other CA", keyKind: .p256)
        let foreign = try fixture.call(
            "POST", "/v1/participants",
            AddParticipantRequest(
                id: "ags:1", name: "X", certificatePem: try fixture.certificatePEM(for: "ags:1", authority: stranger)))
        #expect(foreign.status == 400)
        #expect(fixture.errorCode(foreign) == "untrusted-certificate")
        #expect(try fixture.lastEntry().outcome == .refused)
        #expect(try fixture.lastEntry().subject == "ags:1")
        // Naming another participant in its SAN.
        let other = try fixture.call(
            "POST", "/v1/participants",
            AddParticipantRequest(id: "ags:2", name: "X", certificatePem: try fixture.certificatePEM(for: "ags:3")))
        #expect(fixture.errorCode(other) == "bad-certificate")
        // A CA certificate, garbage, a bad body.
        #expect(
            fixture.errorCode(
                try fixture.call(
                    "POST", "/v1/participants",
                    AddParticipantRequest(id: "ags:2", name: "X", certificatePem: fixture.ca.certificate.pemString))) == "bad-certificate")
        #expect(
            fixture.errorCode(
                try fixture.call("POST", "/v1/participants", AddParticipantRequest(id: "ags:2", name: "X", certificatePem: "junk")))
                == "bad-certificate")
        #expect(fixture.errorCode(try fixture.call("POST", "/v1/participants", ["nonsense": 1])) == "bad-request")
        // A bad id is refused too.
        let badID = try fixture.call(
            "POST", "/v1/participants",
            AddParticipantRequest(id: "no-colon", name: "X", certificatePem: try fixture.certificatePEM(for: "ags:9")))
        #expect(badID.status == 400)
        #expect(fixture.registry.all().isEmpty)
    }

    @Test func statusTailVerifyAndUnknownPaths() throws {
        let fixture = try Fixture()
        let status = try fixture.decode(AdminStatusView.self, try fixture.call("GET", "/v1/status"))
        #expect(status.version == "9.9.9")
        #expect(status.brokerId == "broker:test")
        #expect(status.participants.total == 0)
        #expect(try fixture.call("GET", "/v1/nope").status == 404)
        #expect(try fixture.call("PATCH", "/v1/status").status == 405)
        #expect(try fixture.lastEntry().action == "admin.request")
        let tail = try fixture.decode([AuditEntry].self, try fixture.call("GET", "/v1/audit/tail?count=2"))
        #expect(tail.map(\.seq) == [2, 3])
        let verify = try fixture.call("GET", "/v1/audit/verify")
        #expect(verify.status == 200)
        #expect(try fixture.decode(AuditVerification.self, verify).isIntact)

        // Entries cut off the end are invisible in the file, but the daemon knows how far it wrote.
        let lines = try String(contentsOfFile: fixture.audit.path, encoding: .utf8).split(separator: "\n")
        try (lines.dropLast(2).joined(separator: "\n") + "\n").write(toFile: fixture.audit.path, atomically: false, encoding: .utf8)
        let truncated = try fixture.call("GET", "/v1/audit/verify")
        #expect(truncated.status == 409)
        #expect(try fixture.decode(AuditVerification.self, truncated).problem?.kind == .missing)
    }

    @Test func foreignPeerIsRefusedAndRecorded() throws {
        let fixture = try Fixture()
        let response = fixture.service.refuse(peer: PeerCredentials(pid: 77, uid: 65534, gid: 65534), expectedUID: 1000)
        #expect(response.status == 403)
        #expect(fixture.errorCode(response) == "forbidden")
        let entry = try fixture.lastEntry()
        #expect(entry.action == "admin.connect")
        #expect(entry.actor == "uid:65534 pid:77")
        #expect(entry.outcome == .refused)
    }

    /// The real socket: mode 0600, same-uid caller admitted via SO_PEERCRED, socket removed at shutdown, a stale
    /// socket file replaced, a regular file at the path refused.
    @Test func overTheUnixSocket() async throws {
        let fixture = try Fixture()
        let socketPath = fixture.directory + "/admin.sock"
        // A stale socket file from a daemon that died.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(socketPath.utf8))
            raw[socketPath.utf8.count] = 0
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(stale)
        #expect(FileManager.default.fileExists(atPath: socketPath))

        let (listening, continuation) = AsyncStream.makeStream(of: String.self)
        let server = AdminServer(socketPath: socketPath, service: fixture.service, logger: Logger(label: "test")) { path in
            continuation.yield(path)
        }
        let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = listening.makeAsyncIterator()
            #expect(await iterator.next() == socketPath)
            let mode = try FileManager.default.attributesOfItem(atPath: socketPath)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)

            let client = AdminClient(socketPath: socketPath, timeoutSeconds: 10)
            let status = try await client.call(.status, as: AdminStatusView.self)
            #expect(status.brokerId == "broker:test")
            let entry = try fixture.lastEntry()
            #expect(entry.actor == "uid:\(getuid()) pid:\(getpid())")
            do {
                _ = try await client.call(.showParticipant("ags:404"), as: AdminParticipantView.self)
                Issue.record("expected an error")
            } catch let error as AdminError {
                #expect(error.code == .unknownParticipant)
                #expect(error.status == 404)
            }
            let raw = try client.send("GET", "/v1/nope")
            #expect(raw.status == 404)
            // A second server on the same path refuses to steal the socket of a running one.
            let second = AdminServer(socketPath: socketPath, service: fixture.service, logger: Logger(label: "test"))
            await #expect(throws: AdminError.self) { try await second.run() }

            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(!FileManager.default.fileExists(atPath: socketPath))

        try Data("not a socket".utf8).write(to: URL(fileURLWithPath: socketPath))
        let blocked = AdminServer(socketPath: socketPath, service: fixture.service, logger: Logger(label: "test"))
        await #expect(throws: AdminError.self) { try await blocked.run() }
    }

    /// Connects without sending anything; returns the descriptor (receive timeout 3 s).
    static func rawConnect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 8, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8))
            raw[path.utf8.count] = 0
        }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return fd
    }

    /// 0 when the server closed the connection, -1 when nothing happened within the receive timeout.
    static func receive(_ fd: Int32) -> Int {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0)
    }

    /// A silent peer is cut off after the request timeout; connections beyond the limit are closed at once.
    @Test(arguments: [(limit: 1, timeout: 10_000), (limit: 4, timeout: 200)])
    func connectionLimitAndRequestTimeout(limit: Int, timeoutMilliseconds: Int) async throws {
        let fixture = try Fixture()
        let socketPath = fixture.directory + "/admin.sock"
        let (listening, continuation) = AsyncStream.makeStream(of: String.self)
        let server = AdminServer(
            socketPath: socketPath, service: fixture.service, logger: Logger(label: "test"),
            maximumConnections: limit, requestTimeout: .milliseconds(Int64(timeoutMilliseconds))
        ) { continuation.yield($0) }
        let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = listening.makeAsyncIterator()
            _ = await iterator.next()
            let first = Self.rawConnect(socketPath)
            defer { close(first) }
            if limit == 1 {
                // The slot is taken by the silent first connection (10 s timeout): the second is closed at once.
                let second = Self.rawConnect(socketPath)
                defer { close(second) }
                #expect(Self.receive(second) == 0)
            } else {
                // Nothing sent: closed after 200 ms, well within the 8 s receive timeout.
                #expect(Self.receive(first) == 0)
                #expect(try AdminClient(socketPath: socketPath, timeoutSeconds: 5).send("GET", "/v1/status").status == 200)
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Answers every admin connection with fixed bytes once the request arrived (nil: never answers).
    final class CannedAnswer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let answer: String?
        let closeWithoutAnswer: Bool
        init(_ answer: String?, closeWithoutAnswer: Bool = false) {
            self.answer = answer
            self.closeWithoutAnswer = closeWithoutAnswer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if closeWithoutAnswer { context.close(promise: nil); return }
            guard let answer else { return }
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: answer))).whenComplete { _ in }
            context.close(promise: nil)
        }
    }

    /// The client's HTTP over NIOHTTP1 against a server that answers what we choose: a good answer, bytes that are
    /// not HTTP, a close without an answer, and silence (the timeout).
    @Test func clientReadsAnswersAndNamesEachFailure() async throws {
        func client(answering answer: String?, closeWithoutAnswer: Bool = false) async throws -> (AdminClient, any Channel) {
            let path = "/tmp/kac-\(UUID().uuidString.prefix(8)).sock"
            let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(CannedAnswer(answer, closeWithoutAnswer: closeWithoutAnswer))
                    }
                }
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            return (AdminClient(socketPath: path, timeoutSeconds: 1), server)
        }
        let (good, goodServer) = try await client(answering: "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        let reply = try await good.send(.status)
        #expect(reply.status == 201 && reply.body == Array("{}".utf8))
        try await goodServer.close()

        let cases: [(String?, Bool, AdminError.Code)] = [
            ("garbage\r\n\r\n", false, .badResponse), (nil, true, .unreachable), (nil, false, .timeout)
        ]
        for (answer, closeWithoutAnswer, code) in cases {
            let (bad, server) = try await client(answering: answer, closeWithoutAnswer: closeWithoutAnswer)
            do {
                _ = try await bad.send(.status)
                Issue.record("expected \(code)")
            } catch let error as AdminError {
                #expect(error.code == code, "\(error)")
            }
            try await server.close()
        }
        do {
            _ = try await AdminClient(socketPath: "/tmp/klammer-no-such-socket").send(.status)
            Issue.record("expected unreachable")
        } catch let error as AdminError {
            #expect(error.code == .unreachable && error.message.contains("No such file or directory"), "\(error)")
        }
    }
}
