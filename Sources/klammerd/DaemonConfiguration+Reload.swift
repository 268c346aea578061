import KlammerConfig

extension DaemonConfiguration {
    /// The keys whose value differs in `fresh` but that a reload cannot apply (listeners, paths, store and limits
    /// are set up once at start). `tls.*` is applied by every reload.
    func keysNeedingRestart(comparedTo fresh: DaemonConfiguration) -> [String] {
        var keys: [String] = []
        if brokerID != fresh.brokerID { keys.append("broker_id") }
        if listenHost != fresh.listenHost { keys.append("listen.host") }
        if listenPort != fresh.listenPort { keys.append("listen.port") }
        if dataDirectory != fresh.dataDirectory { keys.append("data_dir") }
        if store != fresh.store { keys.append("store.*") }
        if limits != fresh.limits { keys.append("limits.*") }
        if adminSocket != fresh.adminSocket { keys.append("admin.socket") }
        if adminTLS != fresh.adminTLS { keys.append("admin.tls.*") }
        if metricsPort != fresh.metricsPort { keys.append("metrics.port") }
        if minimumCertificateDays != fresh.minimumCertificateDays { keys.append("metrics.min_certificate_days") }
        if logLevel != fresh.logLevel { keys.append("log.level") }
        if auditCheckpointInterval != fresh.auditCheckpointInterval { keys.append("audit.checkpoint_interval") }
        return keys
    }
}
