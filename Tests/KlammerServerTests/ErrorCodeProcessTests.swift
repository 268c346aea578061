import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerTLS
import KlammerTestSupport
import NIOCore
import Testing

/// Every error code of SPEC.md §6 that a client can provoke, against the real `klammerd --dev` process, one fresh
/// connection per row (raw frames where the client library would refuse to send something wrong).
///
/// Not provoked here, and where they are tested instead:
/// - 1010 HEARTBEAT_TIMEOUT (3 × 30 s of silence) and 1013 HANDSHAKE_TIMEOUT (10 s without HELLO): the dev daemon's
///   timers are too long for a fast test; BrokerSessionStateMachineTests.helloTimeout / heartbeat tests and
///   SessionTests.helloTimeoutAndHeartbeatTimeoutClose (in-process broker with short timers).
/// - 3006 DUPLICATE is informational, never an ERROR: the row `duplicate` checks the original ACCEPTED receipt.
/// - 3007 EXPIRED and 3013 DELIVERY_ATTEMPTS_EXHAUSTED are receipt reasons, not ERRORs:
///   BrokerDeliveryTests.expiryBecomesExpiredReceipt, BrokerBatchAndRecoveryTests.deadLetterBecomesReceipt.
/// - 4001 QUOTA_EXCEEDED (open uploads beyond the limits): UploadBoundProcessTests, against a real klammerd.
/// - 4004 RATE_LIMITED (request rate per participant, refusal budget per connection): RateLimitTests.
/// - 4002 STORAGE_UNAVAILABLE, 4003 STORAGE_FULL, 5000 INTERNAL_ERROR need a failing disk or a broker bug:
///   ErrorCodeMappingTests (broker mapping of store failures) and KlammerStoreTests.FaultInjectionTests.
/// - 2002 PARTICIPANT_SUSPENDED / 2003 PARTICIPANT_REVOKED are rows here (after `klammerctl participant suspend /
///   revoke`), and RefusalProcessTests checks them through `klammer send`.
/// - 4005 SHUTTING_DOWN: `shuttingDownOnSigterm` below (its own daemon, stopped with SIGTERM).
/// - 2008 CERTIFICATE_REVOKED and 2009 CERTIFICATE_EXPIRED need a CRL reload or a certificate that expires while
///   registered: CertificateStatusTests (broker core with a replaced trust store and an injected clock).
@Suite(.serialized) struct ErrorCodeProcessTests {
    /// What a row expects: the code, and whether it ends the connection (ERROR with request id 0).
    struct Expectation: CustomStringConvertible {
        let name: String
        let code: ErrorCode
        let connection: Bool
        var description: String { "\(name) → \(code)" }
    }

    /// One frame on the wire: `length ‖ type ‖ flags ‖ request id ‖ body`, with `length` computed unless given.
    static func raw(type: UInt8, flags: UInt8 = 0, requestID: UInt32 = 0, body: [UInt8], length: UInt32? = nil) -> [UInt8] {
        let n = length ?? UInt32(6 + body.count)
        return be32(n) + [type, flags] + be32(requestID) + body
    }
    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
    }
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(truncatingIfNeeded: v)] }

    /// The first ERROR on the connection (skipping READY, RECEIPT, ACCEPTED …), or nil.
    /// `bytes` with the first occurrence of `pattern` replaced by `replacement` (same length).
    static func replacing(_ pattern: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard let start = (0...(bytes.count - pattern.count)).first(where: { bytes[$0..<$0 + pattern.count].elementsEqual(pattern) }) else {
            return bytes
        }
        var out = bytes
        out.replaceSubrange(start..<start + pattern.count, with: replacement)
        return out
    }

    static func firstError(_ client: TestFrameClient) async -> Frame.ErrorFrame? {
        while let frame = await client.nextSignificant() {
            if case .error(let e) = frame { return e }
        }
        return nil
    }

    /// Sends SEND_BEGIN and waits for READY (nil: something else came).
    static func begin(_ client: TestFrameClient, _ id: UInt32, _ envelope: Envelope, form: SignatureForm = .single) async throws -> Bool {
        try await client.send(.sendBegin(.init(requestID: id, signatureForm: form, envelope: envelope)))
        if case .ready = await client.nextSignificant() { return true }
        return false
    }

    @Test func everyProvokableCodeIsAnsweredWithIt() async throws {
        try await RefusalProcessTests.withDaemon { s in
            let schwerin = try s.identity(s.schwerin), rostock = try s.identity(s.rostock), landkreis = try s.identity(s.landkreis)
            let ca = try CertificateAuthority(certificate: s.pki.ca, key: try PrivateKey.load(fromFile: s.pki.caKeyPath))
            let strangerKey = try PrivateKey.generate(.p256)
            let stranger = TestIdentity(
                id: "ags:11111111",
                certificate: try ca.issue(
                    commonName: "stranger", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:11111111"],
                    publicKey: strangerKey.publicKey, usage: .client), key: strangerKey)
            let payload = payloadBytes(500)
            let hello = Frame.hello(.init(maxFrameSize: 1 << 20, agent: "error-table"))

            /// A connection of `identity`, after HELLO/WELCOME unless `open` is false.
            func connect(_ identity: TestIdentity, open: Bool = true) async throws -> TestFrameClient {
                let client = try await TestFrameClient.connect(port: s.daemon.port, identity: identity, trust: s.trust)
                if open { _ = try #require(try await client.hello(), "no WELCOME for \(identity.id)") }
                return client
            }

            let rows: [(Expectation, (TestFrameClient) async throws -> Void, TestIdentity, Bool)] = [
                (
                    .init(name: "length below 6", code: .malformedFrame, connection: true),
                    { try await $0.sendRaw(Self.be32(2) + [0x04, 0]) }, schwerin, true
                ),
                (
                    .init(name: "no common version", code: .unsupportedVersion, connection: true),
                    { try await $0.send(.hello(.init(minVersion: 2, maxVersion: 3, maxFrameSize: 1 << 20, agent: "x"))) }, schwerin, false
                ),
                (
                    .init(name: "length prefix above maxFrameSize", code: .frameTooLarge, connection: true),
                    { try await $0.sendRaw(Self.be32(0x7FFF_FFFF) + [0x04]) }, schwerin, true
                ),
                (
                    .init(name: "CREDIT 0", code: .flowControlViolation, connection: true),
                    { try await $0.sendRaw(Self.raw(type: 0x22, requestID: 1, body: Self.be32(0))) }, schwerin, true
                ),
                (
                    .init(name: "PING before HELLO", code: .unexpectedFrame, connection: true),
                    { try await $0.send(.ping(.init(data: 1))) }, schwerin, false
                ),
                (
                    .init(name: "unassigned frame type", code: .unknownFrameType, connection: true),
                    { try await $0.sendRaw(Self.raw(type: 0x7F, body: [])) }, schwerin, true
                ),
                (
                    .init(name: "PING with a byte too many", code: .trailingBytes, connection: true),
                    { try await $0.sendRaw(Self.raw(type: 0x04, body: [UInt8](repeating: 1, count: 9))) }, schwerin, true
                ),
                (
                    .init(name: "HELLO agent not UTF-8", code: .invalidUTF8, connection: true),
                    {
                        try await $0.sendRaw(
                            Self.raw(type: 0x01, body: Self.be16(1) + Self.be16(1) + Self.be32(1 << 20) + Self.be16(2) + [0xC3, 0x28]))
                    }, schwerin, false
                ),
                (
                    .init(name: "FETCH of more than maxFetchCount", code: .limitExceeded, connection: true),
                    { try await $0.sendRaw(Self.raw(type: 0x20, requestID: 1, body: Self.be16(5000) + [0x00])) }, schwerin, true
                ),
                (
                    .init(name: "flags ≠ 0", code: .invalidValue, connection: true),
                    { try await $0.sendRaw(Self.raw(type: 0x04, flags: 1, body: [UInt8](repeating: 0, count: 8))) }, schwerin, true
                ),
                (
                    .init(name: "CHUNK for no upload", code: .unknownRequest, connection: false),
                    { try await $0.send(.chunk(.init(requestID: 77, offset: 0, data: ByteBuffer(bytes: [1, 2])))) }, schwerin, true
                ),
                (
                    .init(name: "request id in flight", code: .duplicateRequestID, connection: true),
                    { c in
                        try await c.send(.subscribe(.init(requestID: 5, topics: .receipts, credits: 0)))
                        try await c.send(.statusRequest(.init(requestID: 5, messageID: .random())))
                    }, schwerin, true
                ),
                (
                    .init(name: "certificate of no participant", code: .unknownParticipant, connection: true),
                    { try await $0.send(hello) }, stranger, false
                ),
                (
                    .init(name: "signed with an unregistered certificate", code: .certificateNotRegistered, connection: false),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload))))
                        let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: stranger.certificate, key: stranger.key)
                        try await c.send(.sendEnd(.init(requestID: 1, signature: .single(cms: cms))))
                    }, schwerin, true
                ),
                (
                    .init(name: "envelope sender is someone else", code: .impersonation, connection: false),
                    { c in
                        try await c.send(
                            .sendBegin(
                                .init(
                                    requestID: 1, signatureForm: .single,
                                    envelope: try makeEnvelope(from: rostock, to: [landkreis], payload: payload))))
                    }, schwerin, true
                ),
                (
                    .init(name: "recipient not registered", code: .unknownRecipient, connection: false),
                    { c in
                        let envelope = try Envelope(
                            clientMessageID: "u-1", sender: ParticipantID(schwerin.id), recipients: [ParticipantID("ags:99999999")],
                            subject: "x", contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        try await c.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
                    }, schwerin, true
                ),
                (
                    .init(name: "CMS over other bytes", code: .signatureInvalid, connection: false),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload))))
                        let forged = try CMS.signDetached(Array("other".utf8), certificate: schwerin.certificate, key: schwerin.key)
                        try await c.send(.sendEnd(.init(requestID: 1, signature: .single(cms: forged))))
                    }, schwerin, true
                ),
                (
                    .init(name: "CMS with the signer certificate embedded", code: .signatureProfileViolation, connection: false),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload))))
                        let embedded = try CMS.signDetached(
                            envelope.canonicalBytes, certificate: schwerin.certificate, key: schwerin.key, embedCertificate: true)
                        try await c.send(.sendEnd(.init(requestID: 1, signature: .single(cms: embedded))))
                    }, schwerin, true
                ),
                (
                    .init(name: "created at 1970", code: .timeOutOfRange, connection: false),
                    { c in
                        let envelope = try Envelope(
                            clientMessageID: "t-1", sender: ParticipantID(schwerin.id), recipients: [ParticipantID(rostock.id)],
                            subject: "x", contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        try await c.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
                    }, schwerin, true
                ),
                (
                    .init(name: "empty signature", code: .signatureMissing, connection: true),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload))))
                        // SEND_END body: form 0x01 (single) + blob32 of length 0 — the decoder refuses it (§6 mapping).
                        try await c.sendRaw(Self.raw(type: 0x13, requestID: 1, body: [0x01] + Self.be32(0)))
                    }, schwerin, true
                ),
                (
                    .init(name: "payload ≠ envelope digest", code: .digestMismatch, connection: false),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload.map { $0 ^ 1 }))))
                        try await c.send(
                            .sendEnd(
                                .init(
                                    requestID: 1,
                                    signature: .single(
                                        cms: try CMS.signDetached(
                                            envelope.canonicalBytes, certificate: schwerin.certificate, key: schwerin.key)))))
                    }, schwerin, true
                ),
                (
                    .init(name: "payload above maxMessageSize", code: .messageTooLarge, connection: false),
                    { c in
                        let envelope = try Envelope(
                            clientMessageID: "big-1", sender: ParticipantID(schwerin.id), recipients: [ParticipantID(rostock.id)],
                            subject: "x", contentType: "text/plain", createdAtMillis: 1, payloadLength: 3 << 30,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        try await c.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
                    }, schwerin, true
                ),
                (
                    .init(name: "300 recipients", code: .tooManyRecipients, connection: false),
                    { c in
                        let many = try (0..<300).map { try ParticipantID("ags:\(String(format: "%08d", $0))") }
                        let envelope = try Envelope(
                            clientMessageID: "many-1", sender: ParticipantID(schwerin.id), recipients: many,
                            subject: "x", contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        try await c.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
                    }, schwerin, true
                ),
                // Decoding errors inside the SEND_BEGIN envelope fail only that request (SPEC.md §6 scope rule).
                (
                    .init(name: "envelope subject not UTF-8", code: .invalidUTF8, connection: false),
                    { c in
                        let envelope = try Envelope(
                            clientMessageID: "utf-1", sender: ParticipantID(schwerin.id), recipients: [ParticipantID(rostock.id)],
                            subject: "SUBJ", contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        let frame = Frame.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)).encodedBytes
                        try await c.sendRaw(Self.replacing(Array("SUBJ".utf8), with: [0xC3, 0x28, 0x53, 0x4A], in: frame))
                    }, schwerin, true
                ),
                (
                    .init(name: "envelope recipient id of invalid syntax", code: .invalidValue, connection: false),
                    { c in
                        let envelope = try Envelope(
                            clientMessageID: "pid-1", sender: ParticipantID(schwerin.id), recipients: [ParticipantID("zzz:1")],
                            subject: "x", contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        let frame = Frame.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)).encodedBytes
                        try await c.sendRaw(Self.replacing(Array("zzz:1".utf8), with: Array("ZZZ:1".utf8), in: frame))
                    }, schwerin, true
                ),
                (
                    .init(name: "envelope subject above maxSubjectBytes", code: .limitExceeded, connection: false),
                    { c in
                        let envelope = try Envelope(
                            clientMessageID: "long-1", sender: ParticipantID(schwerin.id), recipients: [ParticipantID(rostock.id)],
                            subject: String(repeating: "s", count: 2000), contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                            payloadDigest: SHA256Digest(bytes: SHA256.hash([1])))
                        try await c.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
                    }, schwerin, true
                ),
                (
                    .init(name: "client message id reused for another envelope", code: .invalidEnvelope, connection: false),
                    { c in
                        let first = try makeEnvelope(from: schwerin, to: [rostock], payload: payload, clientID: "reuse-1")
                        guard case .accepted = try await c.upload(requestID: 1, envelope: first, payload: payload, signer: schwerin) else {
                            return
                        }
                        let second = try makeEnvelope(from: schwerin, to: [landkreis], payload: payload, clientID: "reuse-1")
                        try await c.send(.sendBegin(.init(requestID: 2, signatureForm: .single, envelope: second)))
                    }, schwerin, true
                ),
                (
                    .init(name: "status of an unknown message", code: .unknownMessage, connection: false),
                    { try await $0.send(.statusRequest(.init(requestID: 1, messageID: .random()))) }, schwerin, true
                ),
                (
                    .init(name: "CHUNK at the wrong offset", code: .chunkOffsetMismatch, connection: false),
                    { c in
                        guard try await Self.begin(c, 1, try makeEnvelope(from: schwerin, to: [rostock], payload: payload)) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 5, data: ByteBuffer(bytes: [1, 2]))))
                    }, schwerin, true
                ),
                (
                    .init(name: "SEND_END before the whole payload", code: .lengthMismatch, connection: false),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload.prefix(100)))))
                        try await c.send(
                            .sendEnd(
                                .init(
                                    requestID: 1,
                                    signature: .single(
                                        cms: try CMS.signDetached(
                                            envelope.canonicalBytes, certificate: schwerin.certificate, key: schwerin.key)))))
                    }, schwerin, true
                ),
                (
                    .init(name: "SEND_END in the batch form after a single SEND_BEGIN", code: .signatureFormMismatch, connection: false),
                    { c in
                        let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
                        guard try await Self.begin(c, 1, envelope) else { return }
                        try await c.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload))))
                        let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: schwerin.certificate, key: schwerin.key)
                        let proof = try BatchInclusionProof(cms: cms, leafCount: 1, leafIndex: 0, path: [])
                        try await c.send(.sendEnd(.init(requestID: 1, signature: .batch(proof))))
                    }, schwerin, true
                )
            ]

            for (expectation, act, identity, open) in rows {
                let client = try await connect(identity, open: open)
                defer { client.close() }
                try await act(client)
                let error = await Self.firstError(client)
                #expect(error?.code == expectation.code, "\(expectation): got \(error.map { "\($0.code): \($0.message)" } ?? "no ERROR")")
                #expect((error?.requestID == 0) == expectation.connection, "\(expectation): request id \(error?.requestID ?? 0)")
                #expect(error?.message.isEmpty == false, "\(expectation): the ERROR says nothing")
            }

            // NOT_PERMITTED needs a routing policy: the district may only send to Schwerin.
            #expect(try s.ctl(["participant", "policy", "set", landkreis.id, "--allow", schwerin.id]).status == 0)
            let district = try await connect(landkreis)
            try await district.send(
                .sendBegin(
                    .init(
                        requestID: 1, signatureForm: .single, envelope: try makeEnvelope(from: landkreis, to: [rostock], payload: payload)))
            )
            let notPermitted = await Self.firstError(district)
            #expect(notPermitted?.code == .notPermitted && notPermitted?.requestID == 1, "\(String(describing: notPermitted))")
            district.close()

            // DUPLICATE is informational: the same envelope again is answered with the original receipt, byte for byte.
            let sender = try await connect(schwerin)
            let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload, clientID: "dup-1")
            guard case .accepted(let first) = try await sender.upload(requestID: 1, envelope: envelope, payload: payload, signer: schwerin)
            else {
                Issue.record("first send not accepted")
                return
            }
            try await sender.send(.sendBegin(.init(requestID: 2, signatureForm: .single, envelope: envelope)))
            guard case .accepted(let again) = await sender.nextSignificant() else {
                Issue.record("duplicate not answered with ACCEPTED"); return
            }
            #expect(again.receipt.encodedBytes == first.receipt.encodedBytes)
            sender.close()

            // PARTICIPANT_SUSPENDED, then PARTICIPANT_REVOKED, at HELLO.
            #expect(try s.ctl(["participant", "suspend", landkreis.id]).status == 0)
            let suspended = try await connect(landkreis, open: false)
            try await suspended.send(hello)
            let e2002 = await Self.firstError(suspended)
            #expect(e2002?.code == .participantSuspended && e2002?.requestID == 0)
            suspended.close()
            #expect(try s.ctl(["participant", "revoke", landkreis.id]).status == 0)
            let revoked = try await connect(landkreis, open: false)
            try await revoked.send(hello)
            let e2003 = await Self.firstError(revoked)
            #expect(e2003?.code == .participantRevoked && e2003?.requestID == 0)
            revoked.close()
        }
    }

    /// SIGTERM: an open connection gets GOAWAY(SHUTTING_DOWN) and the daemon exits cleanly. (A connection still
    /// waiting for HELLO gets ERROR(0, SHUTTING_DOWN): BrokerSessionStateMachineTests; the drain timeout's
    /// ERROR(0, SHUTTING_DOWN) after 10 s: BrokerSessionStateMachineTests too.)
    @Test func shuttingDownOnSigterm() async throws {
        let base = "/tmp/kec-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let daemon = try KlammerdProcessTests.Daemon(dataDirectory: base + "/dev")
        let pki = try DevPKI.loadOrCreate(dataDirectory: base + "/dev")
        let p = pki.participants[0]
        let identity = TestIdentity(id: p.id, certificate: p.certificate, key: try PrivateKey.load(fromFile: p.keyPath))
        let open = try await TestFrameClient.connect(
            port: daemon.port, identity: identity, trust: TrustStore(anchors: [pki.ca], crls: [pki.crl]))
        defer { open.close() }
        _ = try #require(try await open.hello())
        daemon.process.terminate()
        let goAway = await open.nextSignificant()
        guard case .goAway(let g) = goAway else { Issue.record("no GOAWAY: \(String(describing: goAway))"); return }
        #expect(g.code == .shuttingDown && g.code.rawValue == 4005)
        open.close()
        daemon.waitOrKill()  // bounded: SIGKILL after the deadline, which fails the status check below
        #expect(daemon.process.terminationStatus == 0)
    }
}
