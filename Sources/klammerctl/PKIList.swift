import ArgumentParser
import Foundation
import KlammerPKI

/// `klammerctl pki list`: every certificate the CA issued.
struct PKIList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List issued certificates (id, serial, status, notAfter, fingerprint)."
    )

    @OptionGroup var directory: PKIDirectoryOption

    @Option(help: ArgumentHelp("Only certificates of this participant id.", valueName: "id"))
    var id: String?

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() throws {
        let ca = try directory.resolve()
        _ = try ca.loadConfiguration()
        let database = try ca.loadDatabase()
        let now = Date.now
        let listed = database.certificates
            .filter { id == nil || $0.id == id }
            .map { ListedCertificate($0, at: now) }
        try ListedCertificate.print(listed, json: json)
    }
}
