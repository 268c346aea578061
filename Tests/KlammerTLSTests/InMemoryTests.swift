import Foundation
import KlammerCrypto
@testable import KlammerTLS
import NIOCore
import NIOEmbedded
import Testing

/// Client and server handlers on two EmbeddedChannels, bytes shuttled by hand: deterministic, no sockets.
@Suite struct InMemoryTests {
    final class Pair {
        let client = EmbeddedChannel()
        let server = EmbeddedChannel()
        let clientRecorder = Recorder()
        let serverRecorder = Recorder()
        let logs = LogCapture()

        init(serverContext: TLSContext, clientContext: TLSContext) throws {
            try server.pipeline.syncOperations.addHandler(OpenSSLHandler(context: serverContext, logger: logs.logger))
            try server.pipeline.syncOperations.addHandler(RecordingHandler(serverRecorder))
            try client.pipeline.syncOperations.addHandler(OpenSSLHandler(context: clientContext, logger: logs.logger))
            try client.pipeline.syncOperations.addHandler(RecordingHandler(clientRecorder))
        }

        deinit {
            // Closing breaks the pipeline's reference cycles and cancels pending timeouts (no leaks under ASan).
            _ = try? client.finish(acceptAlreadyClosed: true)
            _ = try? server.finish(acceptAlreadyClosed: true)
        }

        func activate() throws {
            let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
            try server.connect(to: address).wait()
            try client.connect(to: address).wait()
        }

        /// Moves ciphertext both ways until neither side has anything to send; returns the bytes moved.
        @discardableResult
        func shuttle() throws -> Int {
            var moved = 0
            for _ in 0..<100 {
                var progress = 0
                while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                    progress += bytes.readableBytes
                    if server.isActive { try server.writeInbound(bytes) }
                }
                while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                    progress += bytes.readableBytes
                    if client.isActive { try client.writeInbound(bytes) }
                }
                if progress == 0 { break }
                moved += progress
            }
            return moved
        }
    }

    @Test func handshakeDataAndCloseNotifyInMemory() throws {
        let pair = try Pair(serverContext: try PKI.serverContext(), clientContext: try PKI.clientContext())
        try pair.activate()
        try pair.shuttle()
        #expect(pair.serverRecorder.identity?.fingerprint == PKI.client.certificate.fingerprint)
        #expect(pair.clientRecorder.identity?.fingerprint == PKI.server.certificate.fingerprint)

        pair.client.writeAndFlush(ByteBuffer(string: "ping"), promise: nil)
        pair.server.writeAndFlush(ByteBuffer(string: "pong"), promise: nil)
        try pair.shuttle()
        #expect(pair.serverRecorder.receivedString == "ping")
        #expect(pair.clientRecorder.receivedString == "pong")

        // Closing sends close_notify; the server answers it and closes too, without errors.
        let closed = pair.client.close()
        try pair.shuttle()
        try closed.wait()
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.tlsErrors.isEmpty && pair.clientRecorder.tlsErrors.isEmpty)
    }

    @Test func writesBeforeTheHandshakeAreSentAfterAuthorization() throws {
        let pair = try Pair(serverContext: try PKI.serverContext(), clientContext: try PKI.clientContext())
        try pair.activate()
        let written = pair.client.writeAndFlush(ByteBuffer(string: "queued early"))
        #expect(try pair.client.pipeline.syncOperations.handler(type: OpenSSLHandler.self).bufferedOutboundByteCount == 12)
        try pair.shuttle()
        try written.wait()
        #expect(pair.serverRecorder.receivedString == "queued early")
    }

    @Test func handshakeTimeoutIsDeterministic() throws {
        let pair = try Pair(
            serverContext: try PKI.serverContext { $0.handshakeTimeout = .milliseconds(300) },
            clientContext: try PKI.clientContext())
        try pair.activate()
        _ = try pair.client.readOutbound(as: ByteBuffer.self)  // the ClientHello is lost: the server waits
        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(299))
        #expect(pair.server.isActive)
        pair.server.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.tlsErrors.first?.code == .handshakeTimeout)
        #expect(pair.logs.contains("TLS connection refused: handshake-timeout: the handshake did not complete within 300"))
    }

    @Test func stateMachineIgnoresLateAuthorizationAnswers() {
        var machine = TLSStateMachine()
        #expect(machine.activate() == .startHandshake)
        #expect(machine.handshakeCompleted() == .startAuthorization)
        #expect(machine.closeRequested() == .sendCloseNotifyAndClose)
        #expect(machine.authorizationDecided(.accept) == .none)
        #expect(machine.state == .closing)
        #expect(machine.channelInactive() == .none)
        #expect(machine.timedOut(after: "1s") == .none)
    }
}
