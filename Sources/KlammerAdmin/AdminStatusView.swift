public import Foundation

/// `GET /v1/status`: what is running, how busy it is and what will expire soon (SPEC.md §11.4).
///
/// The live sections (`connections`, `queues`, `disk`, `certificates`) are optional: a daemon without a running
/// broker (starting or stopping) or a test service without one leaves them out rather than reporting zeros.
public struct AdminStatusView: Sendable, Equatable, Codable {
    public struct Counts: Sendable, Equatable, Codable {
        public var total: Int
        public var active: Int
        public var suspended: Int
        public var revoked: Int
    }

    /// Open protocol sessions (TLS connections of the broker listener), per participant once it said HELLO.
    public struct Connections: Sendable, Equatable, Codable {
        public var total: Int
        /// Participant id → open sessions; connections that have not said HELLO yet are only in `total`.
        public var byParticipant: [String: Int]
    }

    /// Queue depths summed over every queue, and the deepest queues.
    public struct Queues: Sendable, Equatable, Codable {
        /// Queues with at least one entry.
        public var queues: Int
        public var ready: Int
        public var inFlight: Int
        public var delayed: Int
        public var deadLettered: Int
        /// The deepest queues (by all entries), at most ``AdminStatusView/topQueueCount``, deepest first.
        public var top: [AdminQueueView]
    }

    /// Disk use of the store and room left on the data directory's file system (`statvfs`).
    public struct Disk: Sendable, Equatable, Codable {
        public var dataDirectory: String
        /// Bytes allocated by the files under the store directory (log segments, blobs, indexes).
        public var storeBytes: UInt64
        /// Files counted for `storeBytes`; the walk stops at ``AdminStatusView/maximumStoreFiles``.
        public var storeFiles: Int
        /// Whether the walk saw every file (false: `storeBytes` is a lower bound).
        public var storeBytesComplete: Bool
        /// Bytes an unprivileged process may still write on the file system (`f_bavail × f_frsize`).
        public var filesystemAvailableBytes: UInt64
        public var filesystemTotalBytes: UInt64
    }

    /// One certificate's expiry.
    public struct Expiry: Sendable, Equatable, Codable {
        public var subject: String
        public var fingerprint: String
        public var notAfter: Date
        /// Whole days until `notAfter` (negative once expired).
        public var daysLeft: Int
        /// The participant a registered certificate belongs to (only in `earliest_participant`).
        public var participant: String?
    }

    /// Expiry of the broker's TLS certificate, of the CA certificates it trusts and of the first participant
    /// certificate to expire.
    public struct Certificates: Sendable, Equatable, Codable {
        public var broker: Expiry
        public var ca: [Expiry]
        /// The registered participant certificate that expires first (nil without participants).
        public var earliestParticipant: Expiry?
    }

    /// How many of the deepest queues `queues.top` lists.
    public static let topQueueCount = 10
    /// Most files the store size walk visits (a bound on the time `status` may take).
    public static let maximumStoreFiles = 1_000_000

    public var version: String
    public var brokerId: String
    public var mode: String
    public var startedAt: Date
    public var uptimeSeconds: Int
    public var participants: Counts
    public var auditLastSequence: UInt64
    public var connections: Connections?
    public var queues: Queues?
    public var disk: Disk?
    public var certificates: Certificates?
}
