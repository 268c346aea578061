import Foundation
import KlammerAdmin
import KlammerProtocol

/// Printing helpers shared by the admin commands.
enum Output {
    static func json(_ value: some Encodable) throws {
        print(String(decoding: try AdminJSON.encoder(pretty: true).encode(value), as: UTF8.self))
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "-" }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    static func duration(_ seconds: Int) -> String {
        let days = seconds / 86400, hours = seconds % 86400 / 3600, minutes = seconds % 3600 / 60
        if days > 0 { return "\(days)d \(hours)h" }
        if hours > 0 { return "\(hours)h \(minutes)m" }
        return "\(minutes)m \(seconds % 60)s"
    }

    /// Left-aligned columns, two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for row in all {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            print(cells.joined(separator: "  "))
        }
    }

    /// Queued envelopes, one line each (never payloads: the admin API has none).
    static func envelopes(_ entries: [AdminQueuedMessageView]) {
        table(
            ["MESSAGE", "STATE", "ATTEMPTS", "SENDER", "ACCEPTED", "BYTES", "SUBJECT"],
            entries.map {
                [
                    $0.messageId, $0.state, "\($0.attempts)", $0.sender, date($0.acceptedAt), "\($0.payloadLength)",
                    TerminalText.escape($0.subject)
                ]
            })
    }

    static func participant(_ participant: AdminParticipantView) {
        print("id          \(participant.id)")
        print("name        \(participant.name)")
        print("status      \(participant.status)")
        print("policy      \(participant.policy.joined(separator: ", "))")
        print("created     \(date(participant.createdAt))")
        print("updated     \(date(participant.updatedAt))")
        print("certificates (\(participant.certificates.count))")
        for certificate in participant.certificates {
            print("  \(certificate.fingerprint)")
            print("    subject \(certificate.subject), serial \(certificate.serial)")
            print("    valid until \(date(certificate.notAfter)), added \(date(certificate.addedAt))")
        }
    }
}
