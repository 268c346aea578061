public import Foundation

/// `POST /v1/store/scrub`: what the store's checksum verification read and found (nothing is changed).
public struct AdminScrubView: Sendable, Equatable, Codable {
    public struct Problem: Sendable, Equatable, Codable {
        public var file: String
        public var offset: UInt64
        public var length: UInt64
        public var reason: String
    }

    public var clean: Bool
    public var segments: Int
    public var records: Int
    public var logBytes: UInt64
    public var blobs: Int
    public var problems: [Problem]
}

/// `POST /v1/reload` (and SIGHUP): what was re-read and what it changed.
public struct AdminReloadView: Sendable, Equatable, Codable {
    /// Trust anchors now in force.
    public var caCertificates: Int
    /// CRLs now in force.
    public var crls: Int
    /// Subject and expiry of the broker certificate new connections get.
    public var brokerCertificate: String
    public var brokerCertificateNotAfter: Date
    /// Live connections closed because the new CRLs revoke their certificate.
    public var connectionsClosed: Int
    /// Configuration keys whose new value needs a restart (they were not applied).
    public var restartRequired: [String]

    public init(
        caCertificates: Int, crls: Int, brokerCertificate: String, brokerCertificateNotAfter: Date,
        connectionsClosed: Int, restartRequired: [String]
    ) {
        self.caCertificates = caCertificates
        self.crls = crls
        self.brokerCertificate = brokerCertificate
        self.brokerCertificateNotAfter = brokerCertificateNotAfter
        self.connectionsClosed = connectionsClosed
        self.restartRequired = restartRequired
    }
}

/// `GET /v1/dead-letters` (all queues): one queue's dead letters.
public struct AdminDeadLetterQueueView<Entry: Codable & Sendable & Equatable>: Sendable, Equatable, Codable {
    public var queue: String
    public var messages: [Entry]

    public init(queue: String, messages: [Entry]) {
        self.queue = queue
        self.messages = messages
    }
}
