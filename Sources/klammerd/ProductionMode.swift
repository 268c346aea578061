import ArgumentParser
import Foundation
import KlammerAdmin
import KlammerConfig
import KlammerServer
import Logging
import ServiceLifecycle

extension Klammerd {
    /// `klammerd --config FILE`: load and validate the configuration (failing before anything is opened, with the
    /// key and the reason), build the TLS context and registry from it and run the services until SIGTERM/SIGINT.
    func runProduction(configFile: String) async throws {
        let configuration: DaemonConfiguration
        let environment: ProductionEnvironment
        do {
            configuration = try await DaemonConfiguration.load(file: configFile)
            environment = try ProductionEnvironment(configuration: configuration)
            // The broker limits derived from the file must fit together; checked now, not at the first message.
            do {
                _ = try environment.brokerConfiguration()
            } catch {
                throw ConfigurationError(
                    .invalidValue, key: "limits.max_frame_bytes", source: configuration.dataDirectory, reason: "\(error)")
            }
        } catch let error as ConfigurationError {
            // One line naming the key; exit status 64 (EX_USAGE) like other usage errors, without the usage text.
            FileHandle.standardError.write(Data("klammerd: \(error.description)\n".utf8))
            throw ExitCode(64)
        }
        let logger = Self.bootstrapLogging(levelName: configuration.logLevel)
        let metricsRegistry = MetricsServer.bootstrapPrometheus()
        let registry = environment.registry
        let brokerConfiguration = try environment.brokerConfiguration()
        var session = SessionConfiguration(limits: brokerConfiguration.limits, brokerID: brokerConfiguration.brokerID)
        session.leaseVisibilitySeconds = Int64(configuration.store.visibilityTimeoutSeconds)
        session.maxOpenUploadsPerConnection = configuration.limits.maxOpenUploadsPerConnection
        session.maxOpenUploadsPerParticipant = configuration.limits.maxOpenUploadsPerParticipant
        session.maxOpenUploads = configuration.limits.maxOpenUploads
        session.maxRequestsPerSecond = configuration.limits.maxRequestsPerSecond
        session.maxRefusalsPerSecond = configuration.limits.maxRefusalsPerSecond
        // Every connection and open upload may hold a descriptor: raise the soft limit to the hard one, and refuse
        // to start if even that cannot hold what the configuration allows (SPEC.md §12).
        do {
            let descriptors = try DescriptorLimit.raise(toServe: configuration.limits.maxConnections, openUploads: session.maxOpenUploads)
            logger.info("file descriptors: soft limit \(descriptors.soft) (hard \(descriptors.hard)), \(descriptors.needed) needed")
        } catch {
            FileHandle.standardError.write(Data("klammerd: \(error)\n".utf8))
            throw ExitCode(64)
        }
        let server = BrokerDaemon(
            host: configuration.listenHost, port: configuration.listenPort, tlsContext: environment.tlsContext,
            registry: registry, storeConfiguration: environment.storeConfiguration(),
            brokerConfiguration: brokerConfiguration, sessionConfiguration: session,
            maxConnections: configuration.limits.maxConnections, logger: logger,
            onListening: { address in
                FileHandle.standardOutput.write(Data((environment.banner(port: address.port ?? 0) + "\n").utf8))
            })
        let startKey = environment.brokerKey
        let reloader = DaemonReloader(daemon: server, logger: logger) {
            let fresh = try waitBlocking { try await DaemonConfiguration.load(file: configFile) }
            let material = try ProductionEnvironment.loadTLS(fresh)
            var restart = configuration.keysNeedingRestart(comparedTo: fresh)
            if !startKey.matches(material.certificate.publicKey) {
                restart.append("tls.key (receipts and audit checkpoints stay signed with the key loaded at start)")
            }
            return .init(context: material.context, certificate: material.certificate, restartRequired: restart)
        }
        let admin = try AdminWiring(
            auditPath: configuration.auditLogPath, socketPath: configuration.adminSocket, registry: registry,
            brokerID: configuration.brokerID, mode: "production",
            trustStore: environment.tlsContext.configuration.trustStore,
            brokerCertificate: environment.brokerCertificate, brokerKey: environment.brokerKey,
            checkpointInterval: configuration.auditCheckpointInterval, logger: logger, broker: { server.broker },
            reload: { try reloader.reload() },
            probe: AdminDaemonProbe(
                daemon: server, dataDirectory: configuration.dataDirectory, storeDirectory: configuration.storeDirectory))
        let adminService = admin.service
        // Refused connections, submissions and ACKs go to the audit log too (SPEC.md §10.4).
        let refusals = RefusalAuditRecorder(audit: admin.audit, logger: logger)
        server.hub.onRefusal { refusals.record($0) }
        reloader.onTrustStoreChange { adminService.updateTrustStore($0) }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] =
            [
                .init(service: server), .init(service: ReloadSignalService(reloader: reloader, audit: admin.audit, logger: logger))
            ] + admin.services
        if let adminTLS = configuration.adminTLS {
            services.append(.init(service: try AdminTLSWiring.server(adminTLS, daemon: server, service: adminService, logger: logger)))
        }
        if let metricsPort = configuration.metricsPort {
            services.append(
                .init(
                    service: MetricsServer(
                        port: metricsPort, registry: metricsRegistry, daemon: server,
                        minimumCertificateDays: configuration.minimumCertificateDays, logger: logger,
                        onListening: { address in
                            FileHandle.standardOutput.write(
                                Data("  metrics       http://127.0.0.1:\(address.port ?? 0)/metrics  (health: /healthz)\n".utf8))
                        })))
        }
        // The refusal recorder goes last, so it is shut down first: its queue is written before daemon.stop.
        services.append(.init(service: refusals))
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}
