public import KlammerCrypto

/// What the admin API asks the running daemon for `GET /v1/status` beyond the registry and the broker core:
/// live connections, the TLS material in force (it changes with a reload) and where the data lives.
public struct AdminDaemonProbe: Sendable {
    /// Open sessions in total and per participant.
    public var connections: @Sendable () -> (total: Int, byParticipant: [String: Int])
    /// The broker certificate and the CA certificates (trust anchors) currently in force.
    public var certificates: @Sendable () -> (broker: Certificate, anchors: [Certificate])
    /// The data directory, whose file system `status` reports free space of.
    public var dataDirectory: String
    /// The message store's directory, whose size `status` reports.
    public var storeDirectory: String

    public init(
        connections: @escaping @Sendable () -> (total: Int, byParticipant: [String: Int]),
        certificates: @escaping @Sendable () -> (broker: Certificate, anchors: [Certificate]),
        dataDirectory: String, storeDirectory: String
    ) {
        self.connections = connections
        self.certificates = certificates
        self.dataDirectory = dataDirectory
        self.storeDirectory = storeDirectory
    }
}
