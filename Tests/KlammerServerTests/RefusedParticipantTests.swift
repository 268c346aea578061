import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import Synchronization
import Testing

/// Refused participants (SPEC.md §4.5, §9.1): the TLS handshake completes for a certificate of the CA, the session
/// answers with ERROR(0, code) naming what to do, closes, processes nothing, and reports the refusal (audit, §10.4).
@Suite struct RefusedParticipantTests {
    /// Collects the hub's refusal reports.
    final class Reports: Sendable {
        let events = Mutex<[RefusalEvent]>([])
        func wait(for kind: RefusalEvent.Kind, code: ErrorCode) async -> RefusalEvent? {
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline {
                if let e = events.withLock({ $0.first { $0.kind == kind && $0.code == code } }) { return e }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return nil
        }
    }

    static func refusal(_ client: TestFrameClient) async -> Frame.ErrorFrame? {
        guard let frames = await client.framesUntilClosed() else { return nil }
        // Exactly one frame, the ERROR, then the close: nothing else was processed.
        guard frames.count == 1, case .error(let e) = frames[0], e.requestID == 0 else { return nil }
        return e
    }

    @Test func unknownSuspendedRevokedAndUnregisteredCertificatesGetTheirCodeAtHello() async throws {
        try await withServer { server in
            let reports = Reports()
            server.daemon.hub.onRefusal { event in reports.events.withLock { $0.append(event) } }

            // Same CA, never registered.
            let stranger = try await server.connect(TestPKI.stranger)
            try await stranger.send(.hello(.init(maxFrameSize: 1 << 20, agent: "test")))
            let unknown = try #require(await Self.refusal(stranger))
            #expect(unknown.code == .unknownParticipant)
            #expect(unknown.message.contains("ask the broker operator to register it"))
            let event = try #require(await reports.wait(for: .connection, code: .unknownParticipant))
            #expect(event.participant == nil && event.fingerprint == TestPKI.stranger.certificate.fingerprint.hex)

            // Suspended.
            _ = try server.registry.setStatus(.suspended, of: TestPKI.b.id)
            let b = try await server.connect(TestPKI.b)
            try await b.send(.hello(.init(maxFrameSize: 1 << 20, agent: "test")))
            let suspended = try #require(await Self.refusal(b))
            #expect(suspended.code == .participantSuspended && suspended.message.contains(TestPKI.b.id))
            #expect(await reports.wait(for: .connection, code: .participantSuspended)?.participant == TestPKI.b.id)

            // Revoked: any first frame (here a SEND_BEGIN) is answered with the refusal, not processed.
            _ = try server.registry.setStatus(.revoked, of: TestPKI.c.id)
            let c = try await server.connect(TestPKI.c)
            let envelope = try makeEnvelope(from: TestPKI.c, to: [TestPKI.a], payload: [1, 2, 3])
            try await c.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
            let revoked = try #require(await Self.refusal(c))
            #expect(revoked.code == .participantRevoked)
            #expect(await reports.wait(for: .connection, code: .participantRevoked) != nil)

            // A certificate removed from its participant belongs to nobody any more (the lookup is by fingerprint):
            // UNKNOWN_PARTICIPANT, even for bytes that are no frame at all. (CERTIFICATE_NOT_REGISTERED is what a live
            // connection gets when its certificate is removed, SessionTests.)
            _ = try server.registry.addCertificate(TestPKI.stranger.certificate, to: TestPKI.a.id)
            _ = try server.registry.removeCertificate(fingerprint: TestPKI.a.certificate.fingerprint, from: TestPKI.a.id)
            let a = try await server.connect(TestPKI.a)
            try await a.sendRaw(Array("GET / HTTP/1.1\r\n\r\n".utf8))
            let removed = try #require(await Self.refusal(a))
            #expect(removed.code == .unknownParticipant)
            #expect(removed.message.contains(TestPKI.a.certificate.fingerprint.hex))
        }
    }
}
