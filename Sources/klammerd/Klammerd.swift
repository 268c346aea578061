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
            With --dev, klammerd creates (once) a throwaway PKI and demo participants under the data directory and \
            listens on 127.0.0.1 with mutual TLS. SIGTERM or SIGINT shut it down gracefully.
            """,
        version: "0.1.0"
    )

    @Flag(help: "Run with an embedded development setup: throwaway PKI and demo participants, no configuration needed.")
    var dev = false

    @Option(name: .customLong("data"), help: "Data directory (dev mode default: .klammer-dev).")
    var dataDirectory: String = ".klammer-dev"

    @Option(help: "Address to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "Port to listen on (0 picks a free port).")
    var port: Int = 7700

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard dev else {
            throw ValidationError("klammerd needs --dev for now: the production configuration (--config) arrives with the broker. Try 'klammerd --dev'.")
        }
        guard (0...65535).contains(port) else {
            throw ValidationError("--port must be between 0 and 65535, got \(port).")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'.")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "klammerd")
        let environment: DevEnvironment
        do {
            environment = try DevEnvironment(dataDirectory: dataDirectory)
        } catch {
            throw ValidationError("dev setup failed: \(error)")
        }
        let host = self.host
        let server = BrokerDaemon(
            host: host, port: port, tlsContext: environment.tlsContext, registry: environment.registry,
            storeConfiguration: environment.storeConfiguration,
            brokerConfiguration: try environment.brokerConfiguration(), logger: logger,
            onListening: { address in
                // Unbuffered, so a supervising process (or a test) sees the banner at once.
                FileHandle.standardOutput.write(Data((environment.banner(host: host, port: address.port ?? 0) + "\n").utf8))
            })
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: server)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
