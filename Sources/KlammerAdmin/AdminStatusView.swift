public import Foundation

/// `GET /v1/status`: what is running and how many participants are in which state.
public struct AdminStatusView: Sendable, Equatable, Codable {
    public struct Counts: Sendable, Equatable, Codable {
        public var total: Int
        public var active: Int
        public var suspended: Int
        public var revoked: Int
    }

    public var version: String
    public var brokerId: String
    public var mode: String
    public var startedAt: Date
    public var uptimeSeconds: Int
    public var participants: Counts
    public var auditLastSequence: UInt64
}
