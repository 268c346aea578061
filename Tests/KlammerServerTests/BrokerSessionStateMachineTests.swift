import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import NIOCore
import Testing

/// The session's decisions without sockets: inputs in, actions out.
@Suite struct BrokerSessionStateMachineTests {
    typealias Machine = BrokerSessionStateMachine

    /// A registry holding participant a (for `Participant` values) in a temp file.
    static func registry() throws -> (ParticipantRegistry, String) {
        let dir = NSTemporaryDirectory() + "klammer-sm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let registry = try ParticipantRegistry(path: dir + "/registry.json")
        try registry.add(id: TestPKI.a.id, name: "A", certificate: TestPKI.a.certificate)
        return (registry, dir)
    }

    static func configuration(_ adjust: (inout SessionConfiguration) -> Void = { _ in }) throws -> SessionConfiguration {
        var limits = ProtocolLimits.default
        limits.initialWindowSize = 64 << 10
        limits.heartbeatIntervalMillis = 1000
        var c = SessionConfiguration(limits: limits, brokerID: try ParticipantID("broker:test"))
        c.helloTimeoutMillis = 500
        c.maxQueuedUploadBytes = 32 << 10
        c.drainTimeoutMillis = 2000
        adjust(&c)
        return c
    }

    /// A machine after TLS authorization and HELLO (at t = 0).
    static func open(_ adjust: (inout SessionConfiguration) -> Void = { _ in }) throws -> (Machine, ParticipantRegistry, String) {
        let (registry, dir) = try registry()
        var m = Machine(configuration: try configuration(adjust))
        #expect(m.authorized(applicationProtocol: "klammer/1", fingerprintHex: TestPKI.a.certificate.fingerprint.hex, now: 0).isEmpty)
        let actions = m.received(
            .frame(.hello(.init(maxFrameSize: 1 << 20, agent: "t"))),
            helloParticipant: registry.participant(id: TestPKI.a.id), now: 0)
        #expect(actions.count == 2)
        guard case .startLanes(_, let id, let maxFrame) = actions.first, case .write(.welcome(let w)) = actions.last else {
            Issue.record("HELLO not answered with lanes + WELCOME: \(actions)")
            return (m, registry, dir)
        }
        #expect(id.rawValue == TestPKI.a.id && maxFrame == 1 << 20)
        #expect(w.participant.rawValue == TestPKI.a.id && w.initialWindowSize == 64 << 10)
        #expect(m.phase == .open)
        return (m, registry, dir)
    }

    static func failure(_ actions: [Machine.Action]) -> Frame.ErrorFrame? {
        if case .fail(let e) = actions.last { return e }
        return nil
    }

    static func envelopeBytes() throws -> [UInt8] {
        try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: [1, 2, 3]).canonicalBytes
    }

    @Test func alpnMustBeKlammer1() throws {
        var m = Machine(configuration: try Self.configuration())
        let actions = m.authorized(applicationProtocol: "http/1.1", fingerprintHex: "00", now: 0)
        #expect(Self.failure(actions)?.code == .unsupportedVersion)
        #expect(m.phase == .closed)
    }

    @Test func helloChecksVersionAndParticipant() throws {
        let (registry, dir) = try Self.registry()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fp = TestPKI.a.certificate.fingerprint.hex

        var unknown = Machine(configuration: try Self.configuration())
        _ = unknown.authorized(applicationProtocol: "klammer/1", fingerprintHex: fp, now: 0)
        #expect(
            Self.failure(unknown.received(.frame(.hello(.init(maxFrameSize: 4096, agent: ""))), helloParticipant: nil, now: 1))?.code
                == .unknownParticipant)

        var version = Machine(configuration: try Self.configuration())
        _ = version.authorized(applicationProtocol: "klammer/1", fingerprintHex: fp, now: 0)
        let future = Frame.hello(.init(minVersion: 2, maxVersion: 3, maxFrameSize: 4096, agent: ""))
        #expect(
            Self.failure(version.received(.frame(future), helloParticipant: registry.participant(id: TestPKI.a.id), now: 1))?.code
                == .unsupportedVersion)

        _ = try registry.setStatus(.suspended, of: TestPKI.a.id)
        var suspended = Machine(configuration: try Self.configuration())
        _ = suspended.authorized(applicationProtocol: "klammer/1", fingerprintHex: fp, now: 0)
        #expect(
            Self.failure(
                suspended.received(
                    .frame(.hello(.init(maxFrameSize: 4096, agent: ""))), helloParticipant: registry.participant(id: TestPKI.a.id), now: 1))?
                .code == .participantSuspended)

        // A frame other than HELLO first.
        var early = Machine(configuration: try Self.configuration())
        _ = early.authorized(applicationProtocol: "klammer/1", fingerprintHex: fp, now: 0)
        #expect(Self.failure(early.received(.frame(.ping(.init(data: 1))), now: 1))?.code == .unexpectedFrame)
    }

    /// A participant refused by the registry learns its code at whatever it sends first (or at the HELLO timeout),
    /// and the refusal is reported before the connection fails.
    @Test func refusedParticipantGetsItsCodeForAnyFirstInput() throws {
        let (registry, dir) = try Self.registry()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fp = TestPKI.a.certificate.fingerprint.hex
        _ = try registry.setStatus(.revoked, of: TestPKI.a.id)
        let revoked = registry.participant(id: TestPKI.a.id)

        func refused(_ input: (inout Machine) -> [Machine.Action]) throws -> (RefusalEvent?, Frame.ErrorFrame?) {
            var m = Machine(configuration: try Self.configuration())
            #expect(m.authorized(applicationProtocol: "klammer/1", fingerprintHex: fp, registered: revoked, now: 0).isEmpty)
            let actions = input(&m)
            #expect(m.phase == .closed)
            guard actions.count == 2, case .report(let event) = actions[0] else { return (nil, Self.failure(actions)) }
            return (event, Self.failure(actions))
        }
        let hello = Frame.hello(.init(maxFrameSize: 4096, agent: ""))
        let (event, atHello) = try refused { $0.received(.frame(hello), helloParticipant: revoked, now: 1) }
        #expect(atHello?.code == .participantRevoked && atHello?.requestID == 0)
        #expect(
            event
                == RefusalEvent(
                    kind: .connection, participant: TestPKI.a.id, fingerprint: fp, code: .participantRevoked,
                    reason: atHello?.message ?? ""))
        #expect(try refused { $0.received(.frame(.ping(.init(data: 1))), now: 1) }.1?.code == .participantRevoked)
        #expect(
            try refused { $0.received(.sendBegin(requestID: 1, form: .single, envelopeBytes: try! Self.envelopeBytes()), now: 1) }.1?.code
                == .participantRevoked)
        #expect(try refused { $0.decodingFailed(ProtocolError(.frameTooLarge, "x")) }.1?.code == .participantRevoked)
        #expect(try refused { $0.tick(now: 600) }.1?.code == .participantRevoked)
        // Unknown certificate: UNKNOWN_PARTICIPANT, reported without a participant id.
        var unknown = Machine(configuration: try Self.configuration())
        _ = unknown.authorized(applicationProtocol: "klammer/1", fingerprintHex: "ab", registered: nil, now: 0)
        let actions = unknown.received(.frame(.ping(.init(data: 1))), now: 1)
        guard case .report(let e) = actions.first else { Issue.record("no report: \(actions)"); return }
        #expect(e.code == .unknownParticipant && e.participant == nil && e.fingerprint == "ab")
        // An admitted participant is not refused by a non-HELLO frame's lookup: UNEXPECTED_FRAME as before.
        let (fresh, freshDir) = try Self.registry()
        defer { try? FileManager.default.removeItem(atPath: freshDir) }
        var active = Machine(configuration: try Self.configuration())
        _ = active.authorized(applicationProtocol: "klammer/1", fingerprintHex: fp, registered: fresh.participant(id: TestPKI.a.id), now: 0)
        #expect(Self.failure(active.received(.frame(.ping(.init(data: 1))), now: 1))?.code == .unexpectedFrame)
    }

    /// A refused upload with a rejected receipt: RECEIPT then ERROR for its id; the connection stays open.
    @Test func rejectedUploadSendsTheReceiptBeforeTheError() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let begin = m.received(.sendBegin(requestID: 1, form: .single, envelopeBytes: try Self.envelopeBytes()), now: 1)
        #expect(begin.count == 1)
        let receipt = try SignedReceipt(
            receipt: Receipt(
                kind: .rejected, messageID: Broker.rejectedMessageID,
                envelopeDigest: SHA256Digest(bytes: SHA256.hash(try Self.envelopeBytes())),
                sender: ParticipantID(TestPKI.a.id), recipient: ParticipantID(TestPKI.b.id), timestampMillis: 1,
                brokerID: ParticipantID("broker:test"), reason: .unknownRecipient),
            brokerSignature: [0x30, 0x03, 0x02, 0x01, 0x02])
        let refusal = ProtocolError(.unknownRecipient, "nobody")
        let actions = m.requestResult(.rejected(requestID: 1, error: refusal, receipt: receipt, chunkBytes: nil), now: 2)
        #expect(actions == [.write(.receipt(.init(requestID: 1, receipt: receipt))), .write(.error(.init(refusal, requestID: 1)))])
        #expect(m.phase == .open)
        // A late CHUNK of that upload is dropped silently (its bytes return to the window).
        let late = m.received(.frame(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: [1])))), now: 3)
        #expect(!late.contains { if case .write(.error) = $0 { return true } else { return false } })
    }

    @Test func shutdownBeforeHelloIsShuttingDown() throws {
        var m = Machine(configuration: try Self.configuration())
        _ = m.authorized(applicationProtocol: "klammer/1", fingerprintHex: "00", now: 0)
        let error = Self.failure(m.shutdown(now: 1))
        #expect(error?.code == .shuttingDown && error?.requestID == 0)
    }

    @Test func helloTimeout() throws {
        var m = Machine(configuration: try Self.configuration())
        _ = m.authorized(applicationProtocol: "klammer/1", fingerprintHex: "00", now: 1000)
        #expect(m.tick(now: 1499).isEmpty)
        #expect(Self.failure(m.tick(now: 1500))?.code == .handshakeTimeout)
    }

    @Test func uploadPathAndFlowControl() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try Self.envelopeBytes()
        #expect(
            m.received(.sendBegin(requestID: 1, form: .single, envelopeBytes: bytes), now: 1)
                == [.request(.begin(requestID: 1, form: .single, envelopeBytes: bytes))])
        // CHUNK before READY is a protocol error, so READY first.
        #expect(m.requestResult(.ready(requestID: 1, offset: 0), now: 2) == [.write(.ready(.init(requestID: 1, offset: 0)))])

        // 32 KiB queued for the disk: reading pauses (maxQueuedUploadBytes), the window is 32 KiB lower.
        let chunk = ByteBuffer(bytes: [UInt8](repeating: 7, count: 16 << 10))
        #expect(m.received(.frame(.chunk(.init(requestID: 1, offset: 0, data: chunk))), now: 3).count == 1)
        #expect(m.wantsToRead)
        #expect(m.received(.frame(.chunk(.init(requestID: 1, offset: 16 << 10, data: chunk))), now: 4).count == 1)
        #expect(!m.wantsToRead)

        // The store took the first chunk: reading resumes, no WINDOW_UPDATE yet (below the threshold, more queued).
        #expect(m.requestResult(.chunkDone(requestID: 1, bytes: 16 << 10, error: nil), now: 5).isEmpty)
        #expect(m.wantsToRead)
        // The second one: nothing queued any more, so both chunks' bytes are granted back in one update.
        #expect(
            m.requestResult(.chunkDone(requestID: 1, bytes: 16 << 10, error: nil), now: 6)
                == [.write(.windowUpdate(.init(increment: 32 << 10)))])

        // Overrunning the 64 KiB window is a connection error.
        let big = ByteBuffer(bytes: [UInt8](repeating: 1, count: 65 << 10))
        #expect(
            Self.failure(m.received(.frame(.chunk(.init(requestID: 1, offset: 32 << 10, data: big))), now: 7))?.code
                == .flowControlViolation)
    }

    @Test func sendEndAcceptedAndRequestErrors() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try Self.envelopeBytes()
        _ = m.received(.sendBegin(requestID: 1, form: .single, envelopeBytes: bytes), now: 1)
        // CHUNK before READY.
        var early = m
        #expect(
            Self.failure(early.received(.frame(.sendEnd(.init(requestID: 1, signature: .single(cms: [1])))), now: 2))?.code
                == .unexpectedFrame)
        // Reusing the id of the upload in flight.
        var dup = m
        #expect(Self.failure(dup.received(.frame(.fetch(.init(requestID: 1, maxMessages: 1))), now: 2))?.code == .duplicateRequestID)

        // Refused at SEND_BEGIN: ERROR for the request; a late SEND_END for it is dropped silently.
        let refusal = ProtocolError(.unknownRecipient, "nope")
        #expect(m.requestResult(.failed(requestID: 1, error: refusal), now: 2) == [.write(.error(.init(refusal, requestID: 1)))])
        #expect(m.received(.frame(.sendEnd(.init(requestID: 1, signature: .single(cms: [1])))), now: 3).isEmpty)
        #expect(m.phase == .open)
        // SEND_END for a request that never existed: request-scoped UNKNOWN_REQUEST.
        guard case .write(.error(let e)) = m.received(.frame(.sendEnd(.init(requestID: 9, signature: .single(cms: [1])))), now: 4).first
        else {
            Issue.record("no ERROR")
            return
        }
        #expect(e.code == .unknownRequest && e.requestID == 9)
    }

    @Test func participantChangesCutTheConnection() throws {
        var (m, registry, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var suspended = m
        let after = try registry.setStatus(.suspended, of: TestPKI.a.id)
        let actions = suspended.participantChanged(after)
        #expect(Self.failure(actions)?.code == .participantSuspended)
        // The cut is reported for the audit log (connection.cut), naming participant and certificate.
        guard case .report(let event) = actions.first else {
            Issue.record("no report of the cut: \(actions)")
            return
        }
        #expect(event.kind == .cut && event.kind.rawValue == "connection.cut" && event.code == .participantSuspended)
        #expect(event.participant == TestPKI.a.id && event.fingerprint == TestPKI.a.certificate.fingerprint.hex)
        var revokedByCRL = m
        guard case .report(let crlEvent) = revokedByCRL.certificateRevoked().first else {
            Issue.record("no report of the CRL cut")
            return
        }
        #expect(crlEvent.kind == .cut && crlEvent.code == .participantRevoked)
        var removed = m
        #expect(Self.failure(removed.participantChanged(nil))?.code == .unknownParticipant)
        let active = try registry.setStatus(.active, of: TestPKI.a.id)
        #expect(m.participantChanged(active).isEmpty)
        _ = try registry.addCertificate(TestPKI.stranger.certificate, to: TestPKI.a.id)
        let withoutOwnCert = try registry.removeCertificate(fingerprint: TestPKI.a.certificate.fingerprint, from: TestPKI.a.id)
        #expect(Self.failure(m.participantChanged(withoutOwnCert))?.code == .certificateNotRegistered)
    }

    @Test func heartbeatPingsThenTimesOut() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(m.tick(now: 1999).isEmpty)
        #expect(m.tick(now: 2000) == [.write(.ping(.init(data: 1)))])
        #expect(m.tick(now: 2500).isEmpty)  // one PING outstanding
        #expect(Self.failure(m.tick(now: 3000))?.code == .heartbeatTimeout)
    }

    @Test func subscriptionCreditsAndPushRounds() throws {
        var (m, _, dir) = try Self.open {
            $0.pushBatch = 4; $0.pollIntervalMillis = 100
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(
            m.received(.frame(.subscribe(.init(requestID: 5, topics: .all, credits: 10))), now: 1)
                == [.startReceipts(requestID: 5), .deliver(.push(requestID: 5, max: 4))])
        // One round at a time.
        #expect(m.wake(now: 2).isEmpty)
        // A full round goes on at once with the remaining credits.
        #expect(
            m.deliveryResult(.pushFinished(requestID: 5, delivered: 4, requested: 4, error: nil), now: 3)
                == [.deliver(.push(requestID: 5, max: 4))])
        // A short round (queue empty) returns unused credits and waits for a wake-up or the poll interval.
        #expect(m.deliveryResult(.pushFinished(requestID: 5, delivered: 1, requested: 4, error: nil), now: 4).isEmpty)
        #expect(m.tick(now: 50).isEmpty)
        #expect(m.tick(now: 104) == [.deliver(.push(requestID: 5, max: 4))])
        _ = m.deliveryResult(.pushFinished(requestID: 5, delivered: 0, requested: 4, error: nil), now: 105)
        #expect(m.wake(now: 106) == [.deliver(.push(requestID: 5, max: 4))])
        // CREDIT for another request id is a request error; overflowing 2^32-1 credits a connection error.
        guard case .write(.error(let e)) = m.received(.frame(.credit(.init(requestID: 6, credits: 1))), now: 107).first else {
            Issue.record("no ERROR")
            return
        }
        #expect(e.code == .unknownRequest)
        #expect(Self.failure(m.received(.frame(.credit(.init(requestID: 5, credits: .max))), now: 108))?.code == .flowControlViolation)
    }

    @Test func goAwayDrainsOpenRequestsThenCloses() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try Self.envelopeBytes()
        _ = m.received(.sendBegin(requestID: 3, form: .single, envelopeBytes: bytes), now: 1)
        _ = m.requestResult(.ready(requestID: 3, offset: 0), now: 2)
        let goAway = m.shutdown(now: 10)
        #expect(
            goAway == [
                .write(
                    .goAway(
                        .init(
                            lastRequestID: 3, code: .shuttingDown,
                            message: "the broker is shutting down; retry later requests on a new connection")))
            ])
        // A new request after GOAWAY is ignored; the open upload still finishes.
        #expect(m.received(.sendBegin(requestID: 4, form: .single, envelopeBytes: bytes), now: 11).isEmpty)
        #expect(m.received(.frame(.sendEnd(.init(requestID: 3, signature: .single(cms: [1])))), now: 12).count == 1)
        let receipt = try SignedReceipt(
            receipt: Receipt(
                kind: .accepted, messageID: try MessageID(bytes: [UInt8](repeating: 1, count: 16)),
                envelopeDigest: try SHA256Digest(bytes: SHA256.hash(bytes)),
                sender: ParticipantID(TestPKI.a.id), recipient: nil, timestampMillis: 1,
                brokerID: ParticipantID("broker:test")),
            brokerSignature: [1])
        let done = m.requestResult(.accepted(requestID: 3, receipt: receipt, recipients: []), now: 13)
        #expect(done.first == .write(.accepted(.init(requestID: 3, receipt: receipt))))
        #expect(done.last == .close)
        #expect(m.phase == .closed)
    }

    @Test func drainTimeoutClosesAnyway() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = m.received(.frame(.fetch(.init(requestID: 2, maxMessages: 1))), now: 1)
        _ = m.received(.frame(.ping(.init(data: 0))), now: 500)
        _ = m.shutdown(now: 500)
        _ = m.received(.frame(.ping(.init(data: 0))), now: 1500)
        #expect(m.tick(now: 2499).allSatisfy { if case .fail = $0 { return false } else { return true } })
        #expect(Self.failure(m.tick(now: 2500))?.code == .shuttingDown)
    }

    @Test func heartbeatDoesNotBlameTheClientWhileTheBrokerHoldsReadingBack() throws {
        var (m, _, dir) = try Self.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = m.received(.sendBegin(requestID: 1, form: .single, envelopeBytes: try Self.envelopeBytes()), now: 0)
        _ = m.requestResult(.ready(requestID: 1, offset: 0), now: 0)
        let chunk = ByteBuffer(bytes: [UInt8](repeating: 7, count: 32 << 10))
        _ = m.received(.frame(.chunk(.init(requestID: 1, offset: 0, data: chunk))), now: 0)
        #expect(!m.wantsToRead)
        // The store is stuck for 10 heartbeat intervals: no PING, no timeout.
        for t in stride(from: Int64(250), through: 10_000, by: 250) {
            #expect(m.tick(now: t).isEmpty)
        }
        // Once the store catches up, the clock starts from there.
        _ = m.requestResult(.chunkDone(requestID: 1, bytes: 32 << 10, error: nil), now: 10_000)
        #expect(m.tick(now: 11_999).isEmpty)
        #expect(m.tick(now: 12_000) == [.write(.ping(.init(data: 1)))])
    }
}

extension BrokerSessionStateMachineTests {
    /// Open uploads are bounded per connection (issue 14, item 7): each pins up to `maxInlinePayload` bytes or a blob
    /// descriptor until SEND_END. The SEND_BEGIN beyond the bound gets a request-scoped, retryable QUOTA_EXCEEDED
    /// without any work queued; uploads that reached SEND_END no longer count, so the next one may start.
    @Test func openUploadsPerConnectionAreCapped() throws {
        var (m, _, dir) = try Self.open { $0.maxOpenUploadsPerConnection = 3 }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try Self.envelopeBytes()
        for id: UInt32 in 1...3 {
            #expect(
                m.received(.sendBegin(requestID: id, form: .single, envelopeBytes: bytes), now: 1) == [
                    .request(.begin(requestID: id, form: .single, envelopeBytes: bytes))
                ])
            _ = m.requestResult(.ready(requestID: id, offset: 0), now: 1)
        }
        let refused = m.received(.sendBegin(requestID: 4, form: .single, envelopeBytes: bytes), now: 2)
        guard case .write(.error(let e)) = refused.first, refused.count == 1 else {
            Issue.record("the fourth open upload was not refused: \(refused)")
            return
        }
        #expect(e.requestID == 4 && e.code == .quotaExceeded && e.code.isRetryable)
        #expect(e.message.contains("limits.max_open_uploads_per_connection"))
        #expect(m.phase == .open)
        // Upload 1 reaches SEND_END: three open again would be allowed, so request 5 starts.
        _ = m.received(.frame(.sendEnd(.init(requestID: 1, signature: .single(cms: [1])))), now: 3)
        #expect(
            m.received(.sendBegin(requestID: 5, form: .single, envelopeBytes: bytes), now: 4) == [
                .request(.begin(requestID: 5, form: .single, envelopeBytes: bytes))
            ])
    }
}
