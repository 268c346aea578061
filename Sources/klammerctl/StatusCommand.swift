import ArgumentParser
import Foundation
import KlammerAdmin

/// `klammerctl status`: version, uptime and participant counts of a running klammerd.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running broker's version, uptime and participant counts."
    )

    @OptionGroup var socket: AdminSocketOption

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let status = try socket.client().call("GET", "/v1/status", as: AdminStatusView.self)
        if json { return try Output.json(status) }
        print("""
            klammerd \(status.version) (\(status.mode)), broker \(status.brokerId)
            up \(Output.duration(status.uptimeSeconds)) since \(Output.date(status.startedAt))
            participants \(status.participants.total): \(status.participants.active) active, \(status.participants.suspended) suspended, \(status.participants.revoked) revoked
            audit log at entry \(status.auditLastSequence)
            """)
    }
}
