public import NIOCore
import Synchronization

/// Enforces a connection limit (`limits.max_connections`) on the participant listener: a connection beyond the limit is closed as soon
/// as it is accepted, before its TLS handshake costs anything. Wrap the transport's application initializer with
/// ``wrap(_:)``.
public final class ConnectionLimiter: Sendable {
    public let limit: Int
    private let open = Mutex(0)

    public init(limit: Int) { self.limit = max(1, limit) }

    /// Connections currently counted.
    public var current: Int { open.withLock { $0 } }

    public func wrap(
        _ initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>
    ) -> @Sendable (any Channel) -> EventLoopFuture<Void> {
        { channel in
            let admitted = self.open.withLock { count in
                guard count < self.limit else { return false }
                count += 1
                return true
            }
            guard admitted else {
                return channel.close().flatMapError { _ in channel.eventLoop.makeSucceededVoidFuture() }
            }
            channel.closeFuture.whenComplete { _ in self.open.withLock { $0 -= 1 } }
            return initializer(channel)
        }
    }
}
