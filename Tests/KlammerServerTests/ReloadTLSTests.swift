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
            while server.daemon.hub.certificateBoundCount < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            try #require(server.daemon.hub.certificateBoundCount == 3)

            let crl = try TestPKI.ca.makeCRL(revoked: [(TestPKI.a.certificate.serialNumberHex, Date())])
            let context = try TLSContext(configuration: .server(
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
}
