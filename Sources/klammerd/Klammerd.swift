import ArgumentParser
import Foundation
import KlammerServer
import Logging
import NIOCore
import ServiceLifecycle

@main
struct Klammerd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammerd",
        abstract: "The Klammer broker daemon.",
        discussion: """
            With --config FILE, klammerd runs in production mode from a YAML configuration (config/klammer.yaml \
            documents every key; KLAMMER_* environment variables override them). With --dev, it creates (once) a \
            throwaway PKI and demo participants under the data directory and listens on 127.0.0.1 with mutual TLS. \
            Both serve the admin API on a Unix socket (klammerctl participant, queue, dlq, message, store, audit, status, \
            reload) and Prometheus metrics plus /healthz on 127.0.0.1 (production: metrics.port). SIGHUP re-reads the \
            CA bundle, CRLs and broker certificate (like 'klammerctl reload'); SIGTERM or SIGINT shut it down gracefully.
            """,
        version: "0.1.0"
    )

    @Flag(help: "Run with an embedded development setup: throwaway PKI and demo participants, no configuration needed.")
    var dev = false

    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "Run in production mode with this YAML configuration (see config/klammer.yaml); KLAMMER_* environment variables override its keys.",
            valueName: "file"))
    var configFile: String?

    @Option(name: .customLong("data"), help: "Data directory (dev mode default: .klammer-dev).")
    var dataDirectory: String = ".klammer-dev"

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free port).")
    var port: Int = 7700

    @Option(help: "Port for Prometheus metrics and /healthz on 127.0.0.1 (0 picks a free port; the banner shows the URL).")
    var metricsPort: Int = 0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        help: ArgumentHelp(
            "Largest document accepted, in bytes (dev mode; production: store.max_document_bytes). 1024 … 2147483648, default 2 GiB.",
            valueName: "bytes"))
    var maxDocumentBytes: Int = 2 << 30

    @Option(
        help: ArgumentHelp(
            "Seconds after which an upload that was cut and never resumed is deleted (dev mode; production: store.partial_upload_timeout_seconds). 1 … 604800, default 86400.",
            valueName: "seconds"))
    var partialUploadTimeout: Int = 86_400

    func validate() throws {
        if configFile != nil {
            guard !dev else { throw ValidationError("--dev and --config exclude each other; choose one.") }
            // Production mode takes everything from the configuration file (and KLAMMER_* variables); a dev-mode
            // option next to --config would be silently ignored, so it is refused.
            let devOptions = [
                "--data", "--host", "--port", "--metrics-port", "--log-level", "--max-document-bytes",
                "--partial-upload-timeout"
            ]
            if let given = CommandLine.arguments.first(where: { argument in
                devOptions.contains { argument == $0 || argument.hasPrefix($0 + "=") }
            }) {
                throw ValidationError(
                    "\(given) applies to --dev only; with --config set data_dir, listen.host, listen.port, metrics.port or log.level in the file, or override them with KLAMMER_DATA_DIR, KLAMMER_LISTEN_HOST, KLAMMER_LISTEN_PORT, KLAMMER_LOG_LEVEL."
                )
            }
            return
        }
        guard dev else {
            throw ValidationError(
                "klammerd needs --config FILE (production) or --dev (throwaway setup). Try 'klammerd --config config/klammer.yaml' or 'klammerd --dev'."
            )
        }
        guard (0...65535).contains(metricsPort) else {
            throw ValidationError("--metrics-port must be between 0 and 65535, got \(metricsPort).")
        }
        guard (0...65535).contains(port) else {
            throw ValidationError("--port must be between 0 and 65535, got \(port).")
        }
        guard (1024...(2 << 30)).contains(maxDocumentBytes) else {
            throw ValidationError("--max-document-bytes must be between 1024 and 2147483648, got \(maxDocumentBytes).")
        }
        guard (1...604_800).contains(partialUploadTimeout) else {
            throw ValidationError("--partial-upload-timeout must be between 1 and 604800 seconds, got \(partialUploadTimeout).")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'.")
        }
    }

    func run() async throws {
        if let configFile {
            try await runProduction(configFile: configFile)
            return
        }
        let logger = Self.bootstrapLogging(levelName: logLevel)
        let metricsRegistry = MetricsServer.bootstrapPrometheus()
        // Dev mode has no connection limit: raise the open-file limit as far as allowed and only warn when it is low.
        do { try DescriptorLimit.raise(toServe: 1024, openUploads: SessionConfiguration.defaultMaxOpenUploads) } catch {
            logger.warning("\(error)")
        }
        let environment: DevEnvironment
        do {
            environment = try DevEnvironment(dataDirectory: dataDirectory)
        } catch {
            throw ValidationError("dev setup failed: \(error)")
        }
        let host = self.host
        var storeConfiguration = environment.storeConfiguration
        storeConfiguration.maxBlobSize = UInt64(maxDocumentBytes)
        storeConfiguration.blobAbandonTimeout = .seconds(partialUploadTimeout)
        var brokerConfiguration = try environment.brokerConfiguration()
        brokerConfiguration.limits.maxMessageSize = UInt64(maxDocumentBytes)
        let server = BrokerDaemon(
            host: host, port: port, tlsContext: environment.tlsContext, registry: environment.registry,
            storeConfiguration: storeConfiguration,
            brokerConfiguration: brokerConfiguration, logger: logger,
            onListening: { address in
                // Unbuffered, so a supervising process (or a test) sees the banner at once.
                FileHandle.standardOutput.write(Data((environment.banner(host: host, port: address.port ?? 0) + "\n").utf8))
            })
        // Admin API + audit log (see AdminWiring): keep these lines when the dev path changes.
        let dataDirectory = environment.dataDirectory
        let reloader = DaemonReloader(daemon: server, logger: logger) {
            let pki = try DevPKI.loadOrCreate(dataDirectory: dataDirectory)
            return .init(context: try DevEnvironment.tlsContext(pki: pki), certificate: pki.brokerCertificate, restartRequired: [])
        }
        let admin = try DevAdmin.wiring(environment: environment, logger: logger, daemon: server, reloader: reloader)
        let adminService = admin.service
        // Refused connections, submissions and ACKs go to the audit log too (SPEC.md §10.4).
        let refusals = RefusalAuditRecorder(audit: admin.audit, logger: logger)
        server.hub.onRefusal { refusals.record($0) }
        reloader.onTrustStoreChange { adminService.updateTrustStore($0) }
        let reloadSignal = ReloadSignalService(reloader: reloader, audit: admin.audit, logger: logger)
        let metrics = MetricsServer(
            port: metricsPort, registry: metricsRegistry, daemon: server, minimumCertificateDays: 14, logger: logger,
            onListening: { address in
                FileHandle.standardOutput.write(
                    Data("  metrics       http://127.0.0.1:\(address.port ?? 0)/metrics  (health: /healthz)\n".utf8))
            })
        let group = ServiceGroup(
            configuration: .init(
                // The refusal recorder goes last, so it is shut down first: its queue is written before daemon.stop.
                services: [.init(service: server), .init(service: metrics), .init(service: reloadSignal)] + admin.services
                    + [.init(service: refusals)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
