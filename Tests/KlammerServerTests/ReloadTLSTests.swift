import Foundation
import KlammerCrypto
import KlammerProtocol
@testable import KlammerServer
import KlammerTLS
import Testing

/// `BrokerDaemon.reloadTLS`: the new context is used for new connections, and live sessions of a certificate the
/// new CRLs revoke are closed at once (also before HELLO); others stay.
@Suite struct ReloadTLSTests {
    @Test func revokedCertificatesLoseTheirConnectionsOthersStay() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            let early = try await server.connect(TestPKI.a)  // TLS authorized, no HELLO yet
            let b = try await server.session(TestPKI.b)
            defer { a.close(); early.close(); b.close() }
            // Wait (bounded) until TLS authorized the early connection and the hub knows its certificate.
            let deadline = ContinuousClock.now + .seconds(5)
            while server.daemon.hub.certificateBoundCount < 3, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            try #require(server.daemon.hub.certificateBoundCount == 3)

            let crl = try TestPKI.ca.makeCRL(revoked: [(TestPKI.a.certificate.serialNumberHex, Date())])
            let context = try TLSContext(
                configuration: .server(
                    certificateChain: [TestPKI.broker.certificate], privateKey: TestPKI.broker.key,
                    trustStore: TrustStore(anchors: [TestPKI.ca.certificate], crls: [crl])))
            let closed = server.daemon.reloadTLS(context, certificate: TestPKI.broker.certificate)
            #expect(closed == 2)
            #expect(server.daemon.tlsContext === context)

            let frames = await a.framesUntilClosed(timeout: .seconds(1))
            #expect(frames?.contains { errorFrame($0)?.code == .participantRevoked } == true)
            #expect(await early.framesUntilClosed(timeout: .seconds(1)) != nil)
            try await b.send(.ping(.init(data: 3)))
            #expect(await b.next() == .pong(.init(data: 3)))

            // New connections get the new context: c is admitted, a is not.
            let c = try await server.session(TestPKI.c)
            c.close()
            let again = try? await server.connect(TestPKI.a)
            let welcome = try? await again?.hello()
            #expect(welcome == nil)
            again?.close()
        }
    }

    /// `pki revoke` + reload for a participant holding certificates A and B, connected with B: the broker core checks
    /// registered certificates against the reloaded CRL (SPEC.md §7.1 check 10a) — A is no longer listed in directory
    /// answers and a message signed with A is refused with CERTIFICATE_REVOKED after a signed rejected receipt.
    @Test func reloadedCRLStopsARegisteredSigningCertificate() async throws {
        try await withServer { server in
            let second = try TestPKI.issue(TestPKI.a.id)
            _ = try server.registry.addCertificate(second.certificate, to: TestPKI.a.id)
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            let broker = try #require(server.daemon.broker)
            let id = try ParticipantID(TestPKI.a.id)
            #expect(
                try broker.directoryStatement(for: id).statement.certificates == [
                    TestPKI.a.certificate.derBytes, second.certificate.derBytes
                ])

            let crl = try TestPKI.ca.makeCRL(revoked: [(second.certificate.serialNumberHex, Date())])
            let context = try TLSContext(
                configuration: .server(
                    certificateChain: [TestPKI.broker.certificate], privateKey: TestPKI.broker.key,
                    trustStore: TrustStore(anchors: [TestPKI.ca.certificate], crls: [crl])))
            server.daemon.reloadTLS(context, certificate: TestPKI.broker.certificate)

            #expect(try broker.directoryStatement(for: id).statement.certificates == [TestPKI.a.certificate.derBytes])
            let payload: [UInt8] = [1, 2, 3]
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            let (answer, rejected) = try await a.uploadRejected(requestID: 1, envelope: envelope, payload: payload, signer: second)
            #expect(errorFrame(answer)?.code == .certificateRevoked, "\(String(describing: answer))")
            #expect(rejected?.receipt.reason == .certificateRevoked)
            // The connection (made with A's other certificate) stays and still sends with it.
            let ok = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted = try await a.upload(requestID: 2, envelope: ok, payload: payload, signer: TestPKI.a) else {
                Issue.record("a message signed with the unrevoked certificate was not accepted")
                return
            }
        }
    }
}
