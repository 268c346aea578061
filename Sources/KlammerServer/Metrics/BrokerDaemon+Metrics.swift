extension BrokerDaemon {
    /// Samples the queue gauges from the store (call before each scrape); does nothing while the store is closed.
    public func refreshMetrics() {
        guard let store else { return }
        BrokerMetrics.updateQueueGauges(store.queueStatistics())
    }

    /// The `/healthz` report: store writable, broker certificate valid for at least `minimumCertificateDays`.
    public func healthReport(minimumCertificateDays: Int) -> HealthReport {
        HealthReport.evaluate(store: store, certificate: brokerCertificate, minimumCertificateDays: minimumCertificateDays)
    }
}
