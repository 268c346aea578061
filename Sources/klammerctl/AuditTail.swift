import ArgumentParser
import KlammerAdmin
import KlammerAudit

/// `klammerctl audit tail [-n N]`.
struct AuditTail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Show the newest audit entries, oldest first.")

    @OptionGroup var socket: AdminSocketOption

    @Option(name: [.customShort("n"), .customLong("count")], help: "How many entries (1-1000).")
    var count = 20

    @Option(help: ArgumentHelp("Read this audit log file directly instead of asking klammerd.", valueName: "path"), completion: .file())
    var file: String?

    @Flag(help: "Print a JSON array.")
    var json = false

    func validate() throws {
        guard (1...1000).contains(count) else { throw ValidationError("--count must be 1…1000") }
    }

    func run() async throws {
        let entries: [AuditEntry]
        if let file {
            entries = try AuditLog.tail(path: file, count: count)
        } else {
            entries = try await socket.client().call(.auditTail(count: count), as: [AuditEntry].self)
        }
        if json { return try Output.json(entries) }
        Output.table(
            ["SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "OUTCOME", "DETAILS"],
            entries.map { entry in
                let details =
                    entry.action == AuditEntry.checkpointAction
                    ? "signed by \(entry.checkpoint?.certificate.prefix(16) ?? "?")…, covers \(entry.details["covers"] ?? "?")"
                    : entry.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                return [
                    "\(entry.seq)", entry.time, entry.actor, entry.action, entry.subject.isEmpty ? "-" : entry.subject,
                    entry.outcome.rawValue, details
                ]
            })
    }
}
