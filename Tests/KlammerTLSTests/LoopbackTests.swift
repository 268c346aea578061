import Foundation
import KlammerCrypto
@testable import KlammerTLS
import NIOCore
import NIOPosix
import Testing

@Suite struct LoopbackTests {
    @Test func mutualTLSBothWaysOverLoopback() async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger, echo: true)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(port: server.port, context: try PKI.clientContext(), logger: logs.logger, recorder: recorder)
        try await client.writeAndFlush(ByteBuffer(string: "hello klammer")).get()
        #expect(await eventually { recorder.receivedString == "hello klammer" })
        let serverSide = try #require(server.allRecorders.first)
        #expect(serverSide.receivedString == "hello klammer")
        let seenByServer = try #require(serverSide.identity)
        #expect(seenByServer.fingerprint == PKI.client.certificate.fingerprint)
        #expect(seenByServer.applicationProtocol == "klammer/1")
        #expect(seenByServer.protocolVersion == .tls13)
        #expect(seenByServer.cipherSuite.contains("GCM"))
        let seenByClient = try #require(recorder.identity)
        #expect(seenByClient.fingerprint == PKI.server.certificate.fingerprint)
        #expect(try await client.tlsPeerIdentity().get()?.fingerprint == PKI.server.certificate.fingerprint)
        try await client.close()
        #expect(await eventually { serverSide.isInactive })
        #expect(serverSide.tlsErrors.isEmpty)
    }
}
