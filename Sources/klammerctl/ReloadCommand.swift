import ArgumentParser
import KlammerAdmin

/// `klammerctl reload`: the same as `kill -HUP` on klammerd, with the outcome.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read the CA bundle, CRLs, broker certificate and key without a restart.",
        discussion:
            "New connections use the new TLS material; live connections stay, except those whose certificate a new CRL revokes (closed at once)."
    )

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let view = try await socket.client().call(.reload, as: AdminReloadView.self)
        if json { return try Output.json(view) }
        print("reloaded: \(view.caCertificates) CA certificate(s), \(view.crls) CRL(s)")
        print("broker certificate \(view.brokerCertificate), valid until \(Output.date(view.brokerCertificateNotAfter))")
        print("closed \(view.connectionsClosed) connection(s) of revoked certificates")
        if !view.restartRequired.isEmpty {
            print("not applied (need a restart): \(view.restartRequired.joined(separator: ", "))")
        }
    }
}
