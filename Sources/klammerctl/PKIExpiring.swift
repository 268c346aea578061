import ArgumentParser
import Foundation
import KlammerPKI

/// `klammerctl pki expiring`: unrevoked certificates whose notAfter falls within the next N days.
struct PKIExpiring: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expiring",
        abstract: "List unrevoked certificates that expire within N days (soonest first).",
        discussion: "Already expired certificates are not listed; `pki list` shows them with status expired."
    )

    @OptionGroup var directory: PKIDirectoryOption

    @Option(help: "Look-ahead in days (0–3650).")
    var days: Int

    @Flag(help: "Print a JSON array.")
    var json = false

    func validate() throws {
        guard (0...3650).contains(days) else { throw ValidationError("--days must be 0–3650, got \(days)") }
    }

    func run() throws {
        let ca = try directory.resolve()
        _ = try ca.loadConfiguration()
        let database = try ca.loadDatabase()
        let now = Date.now
        let horizon = now + Double(days) * 86400
        let listed = database.certificates
            .filter { $0.status == .valid && $0.notAfter >= now && $0.notAfter <= horizon }
            .sorted { $0.notAfter < $1.notAfter }
            .map { ListedCertificate($0, at: now) }
        try ListedCertificate.print(listed, json: json)
    }
}
