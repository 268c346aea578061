public import Logging
public import NIOCore
import NIOHTTP1
import Metrics
import NIOPosix
public import Prometheus
public import ServiceLifecycle
import Synchronization

/// Plain HTTP on a loopback port as a long-lived service: `GET /metrics` (Prometheus text format from `registry`)
/// and `GET /healthz` (JSON ``HealthReport``, 200 or 503). Nothing else; no request bodies.
public final class MetricsServer: Service {
    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let beforeScrape: @Sendable () -> Void
    private let health: @Sendable () -> HealthReport
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    /// - Parameters:
    ///   - host: keep this a loopback address: the endpoints have no authentication.
    ///   - beforeScrape: refreshes gauges that are sampled, not counted (queue depths).
    ///   - health: runs on every `/healthz` request.
    public init(
        host: String = "127.0.0.1", port: Int, registry: PrometheusCollectorRegistry,
        beforeScrape: @escaping @Sendable () -> Void = {}, health: @escaping @Sendable () -> HealthReport,
        logger: Logger, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.beforeScrape = beforeScrape
        self.health = health
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let registry = self.registry
        let beforeScrape = self.beforeScrape
        let health = self.health
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(
                        MetricsHTTPHandler(registry: registry, beforeScrape: beforeScrape, health: health))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw ServerError(
                .bindFailed, "cannot serve metrics on \(host):\(port): \(error). Choose another metrics.port (or 0 to turn metrics off).")
        }
        if let address = channel.localAddress {
            logger.info("metrics listening", metadata: ["address": "\(address)"])
            onListening(address)
        }
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

extension MetricsServer {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Bootstraps swift-metrics with a Prometheus registry and returns the registry to serve. swift-metrics allows
    /// one bootstrap per process, so later calls return the first registry.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        bootstrapped.withLock { existing in
            if let existing { return existing }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            // fdatasync takes micro- to milliseconds on SSDs; the default buckets start at 5 ms.
            factory.durationHistogramBuckets["klammer_store_fsync_seconds"] = [
                .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .seconds(1)
            ]
            factory.valueHistogramBuckets["klammer_store_group_commit_batch_records"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
            MetricsSystem.bootstrap(factory)
            existing = registry
            return registry
        }
    }

    /// The metrics endpoint of a running ``BrokerDaemon``: queue gauges sampled per scrape, `/healthz` from
    /// ``BrokerDaemon/healthReport(minimumCertificateDays:)``.
    public convenience init(
        host: String = "127.0.0.1", port: Int, registry: PrometheusCollectorRegistry,
        daemon: BrokerDaemon, minimumCertificateDays: Int, logger: Logger,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.init(
            host: host, port: port, registry: registry, beforeScrape: { daemon.refreshMetrics() },
            health: { daemon.healthReport(minimumCertificateDays: minimumCertificateDays) },
            logger: logger, onListening: onListening)
    }
}
