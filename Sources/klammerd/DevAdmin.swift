import KlammerAdmin
import KlammerServer
import Logging

/// The admin API and audit log of `klammerd --dev`: socket `<data>/admin.sock`, log `<data>/audit.jsonl`,
/// checkpoints signed with the dev broker key.
enum DevAdmin {
    static func wiring(environment: DevEnvironment, logger: Logger, daemon: BrokerDaemon, reloader: DaemonReloader) throws -> AdminWiring {
        try AdminWiring(
            auditPath: environment.dataDirectory + "/audit.jsonl",
            socketPath: environment.adminSocketPath,
            registry: environment.registry, brokerID: DevEnvironment.brokerID, mode: "dev",
            trustStore: environment.tlsContext.configuration.trustStore,
            brokerCertificate: environment.pki.brokerCertificate, brokerKey: environment.pki.brokerKey,
            checkpointInterval: 64, logger: logger, broker: { daemon.broker }, reload: { try reloader.reload() },
            probe: AdminDaemonProbe(
                daemon: daemon, dataDirectory: environment.dataDirectory,
                storeDirectory: environment.storeConfiguration.directory))
    }
}
