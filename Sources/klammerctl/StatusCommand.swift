import ArgumentParser
import Foundation
import KlammerAdmin

/// `klammerctl status`: version, uptime, connections, queue depths, disk and certificate expiry of a running
/// klammerd.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running broker's version, uptime, connections, queue depths, disk use and certificate expiry."
    )

    @OptionGroup var socket: AdminSocketOption

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let status = try await socket.client().call(.status, as: AdminStatusView.self)
        if json { return try Output.json(status) }
        print(Self.render(status))
    }

    /// The human-readable form: one `key  value` line per figure, then tables of the deepest queues and of the
    /// certificates with their remaining days.
    static func render(_ status: AdminStatusView) -> String {
        // The first line and the `participants` line keep the form scripts and older docs grep for.
        var rows: [[String]] = [
            ["uptime", "\(Output.duration(status.uptimeSeconds)) since \(Output.date(status.startedAt))"],
            [
                "participants",
                "\(status.participants.total): \(status.participants.active) active, \(status.participants.suspended) suspended, \(status.participants.revoked) revoked"
            ]
        ]
        if let connections = status.connections {
            let per = connections.byParticipant.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            rows.append(["connections", "\(connections.total)" + (per.isEmpty ? "" : " (\(per.joined(separator: ", ")))")])
        }
        if let queues = status.queues {
            rows.append([
                "queues",
                "\(queues.queues) non-empty: \(queues.ready) ready, \(queues.inFlight) in flight, \(queues.delayed) delayed, \(queues.deadLettered) dead-lettered"
            ])
        }
        if let disk = status.disk {
            let partial = disk.storeBytesComplete ? "" : " (at least; walk stopped)"
            rows.append(["store", "\(Self.bytes(disk.storeBytes)) in \(disk.storeFiles) files\(partial)"])
            rows.append([
                "disk free",
                "\(Self.bytes(disk.filesystemAvailableBytes)) of \(Self.bytes(disk.filesystemTotalBytes)) (\(disk.dataDirectory))"
            ])
        }
        rows.append(["audit log", "at entry \(status.auditLastSequence)"])
        var lines = ["klammerd \(status.version) (\(status.mode)), broker \(status.brokerId)"]
        lines += Self.columns(rows, separator: " ")
        if let queues = status.queues, !queues.top.isEmpty {
            lines.append("")
            lines += Self.columns(
                [["QUEUE", "READY", "IN FLIGHT", "DELAYED", "DEAD"]]
                    + queues.top.map {
                        [$0.recipient, "\($0.ready)", "\($0.inFlight)", "\($0.delayed)", "\($0.deadLettered)"]
                    })
        }
        if let certificates = status.certificates {
            var table = [["CERTIFICATE", "NOT AFTER", "DAYS LEFT", "SUBJECT"]]
            table.append([
                "broker", Output.date(certificates.broker.notAfter), "\(certificates.broker.daysLeft)", certificates.broker.subject
            ])
            for ca in certificates.ca {
                table.append(["ca", Output.date(ca.notAfter), "\(ca.daysLeft)", ca.subject])
            }
            if let earliest = certificates.earliestParticipant {
                table.append([
                    "first participant (\(earliest.participant ?? "?"))", Output.date(earliest.notAfter), "\(earliest.daysLeft)",
                    earliest.subject
                ])
            }
            lines.append("")
            lines += Self.columns(table)
        }
        return lines.joined(separator: "\n")
    }

    /// Left-aligned columns, two spaces apart (the last column unpadded).
    static func columns(_ rows: [[String]], separator: String = "  ") -> [String] {
        let count = rows.map(\.count).max() ?? 0
        let widths = (0..<count).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: separator)
        }
    }

    /// Binary units with one decimal (`1.5 GiB`).
    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var amount = Double(value)
        var unit = 0
        while amount >= 1024, unit < units.count - 1 {
            amount /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f %@", amount, units[unit])
    }
}
