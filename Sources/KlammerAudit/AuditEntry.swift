public import Foundation

/// One line of the audit log (SPEC.md §10): who did what to which subject, with which outcome, chained to the
/// previous line by its SHA-256.
public struct AuditEntry: Sendable, Equatable, Codable {
    /// The outcome of the audited action.
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        /// The action was carried out.
        case ok
        /// The action was refused (bad input, unknown participant, not permitted); nothing changed.
        case refused
        /// The action failed on the broker's side (I/O); it may or may not have taken effect.
        case failed
    }

    /// The broker's signature over a checkpoint statement (only on `audit.checkpoint` entries).
    public struct Checkpoint: Sendable, Equatable, Codable {
        /// Detached CMS SignedData (DER), base64, over ``AuditEntry/checkpointStatement``.
        public var signature: String
        /// SHA-256 fingerprint (hex) of the broker certificate that signed.
        public var certificate: String
    }

    /// 1 for the first entry, then +1 per entry, never reused.
    public var seq: UInt64
    /// UTC time of the entry, ISO 8601 with milliseconds (`2026-11-26T01:30:00.123Z`).
    public var time: String
    /// Who: `uid:1000 pid:4242` for an admin API caller, `klammerd` for the daemon itself.
    public var actor: String
    /// What, e.g. `participant.add`, `participant.suspend`, `daemon.start`, `audit.checkpoint`.
    public var action: String
    /// Which object, e.g. a participant id; empty when there is none.
    public var subject: String
    public var outcome: Outcome
    /// Further facts (fingerprints, statuses, error messages), string to string.
    public var details: [String: String]
    /// Lowercase hex SHA-256 of the previous line's bytes (without its newline); 64 zeros for the first entry.
    public var prev: String
    /// Present on `audit.checkpoint` entries only.
    public var checkpoint: Checkpoint?

    /// The action name of checkpoint entries.
    public static let checkpointAction = "audit.checkpoint"
    /// `prev` of the first entry.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// The bytes a checkpoint signature covers: a fixed text naming the checkpoint's own sequence number, time and
    /// `prev` (the hash that transitively covers every earlier entry).
    public var checkpointStatement: [UInt8] {
        Array("klammer-audit-checkpoint/1\nseq=\(seq)\ntime=\(time)\nprev=\(prev)\n".utf8)
    }

    /// The line as written: JSON with sorted keys, no insignificant whitespace, no trailing newline.
    public func encodedLine() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// Parses one line (without its newline).
    public static func decode(line: some Collection<UInt8>) throws -> AuditEntry {
        try JSONDecoder().decode(AuditEntry.self, from: Data(line))
    }

    /// The time format of ``time``.
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}
