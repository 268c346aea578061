import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import KlammerServer

/// `limits.max_connections`: connections beyond the limit are closed at accept and never reach the application.
struct ConnectionLimiterTests {
    @Test func closesConnectionsBeyondTheLimitAndFreesSlotsOnClose() throws {
        let limiter = ConnectionLimiter(limit: 2)
        let initialized = Mutex(0)
        let initializer = limiter.wrap { channel in
            initialized.withLock { $0 += 1 }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        func connected() throws -> EmbeddedChannel {
            let channel = EmbeddedChannel()
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7700)).wait()
            return channel
        }
        let first = try connected(), second = try connected(), third = try connected()
        try initializer(first).wait()
        try initializer(second).wait()
        try initializer(third).wait()
        #expect(initialized.withLock { $0 } == 2)
        #expect(limiter.current == 2)
        #expect(!third.isActive)
        #expect(first.isActive)

        _ = try? first.finish()
        #expect(limiter.current == 1)
        let fourth = try connected()
        try initializer(fourth).wait()
        #expect(initialized.withLock { $0 } == 3)
        #expect(fourth.isActive)
        _ = try? second.finish()
        _ = try? fourth.finish()
        #expect(limiter.current == 0)
    }
}
