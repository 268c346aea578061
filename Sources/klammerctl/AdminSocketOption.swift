import ArgumentParser
import Foundation
import KlammerAdmin

/// The `--socket` option of every command that talks to a running klammerd, with the `KLAMMER_ADMIN_SOCKET`
/// fallback.
struct AdminSocketOption: ParsableArguments {
    /// Environment variable consulted when `--socket` is absent.
    static let environmentVariable = "KLAMMER_ADMIN_SOCKET"

    @Option(
        name: .customLong("socket"),
        help: ArgumentHelp("The admin socket of klammerd (default: $KLAMMER_ADMIN_SOCKET).", valueName: "path"),
        completion: .file())
    var socket: String?

    @Option(
        name: .customLong("admin-url"),
        help: ArgumentHelp(
            "Use the admin API over mutual TLS at this URL instead of the socket (https://HOST:PORT, klammerd's admin.tls.listen; default: $KLAMMER_ADMIN_URL). Needs --admin-cert, --admin-key and --admin-ca.",
            valueName: "url"))
    var adminURL: String?

    @Option(
        name: .customLong("admin-cert"),
        help: ArgumentHelp("With --admin-url: the admin certificate (PEM), listed in admin.tls.client_fingerprints.", valueName: "pem"),
        completion: .file())
    var certificate: String?

    @Option(
        name: .customLong("admin-key"),
        help: ArgumentHelp("With --admin-url: the admin certificate's private key (PEM).", valueName: "pem"), completion: .file())
    var key: String?

    @Option(
        name: .customLong("admin-ca"),
        help: ArgumentHelp("With --admin-url: the CA bundle the broker's certificate chains to (PEM).", valueName: "pem"),
        completion: .file())
    var ca: String?

    /// A client for the admin API: over mutual TLS with `--admin-url` (or `KLAMMER_ADMIN_URL`), else the socket from
    /// `--socket` or the environment.
    func client() throws -> AdminClient {
        let url = adminURL ?? ProcessInfo.processInfo.environment["KLAMMER_ADMIN_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let url, socket == nil {
            guard let certificate, let key, let ca else {
                throw ValidationError(
                    "--admin-url needs --admin-cert (the admin certificate), --admin-key (its key) and --admin-ca (the CA bundle of the broker's certificate)."
                )
            }
            return AdminClient(tls: try AdminTLSTransport(url: url, certificateFile: certificate, keyFile: key, caFile: ca))
        }
        if let socket, !socket.isEmpty { return AdminClient(socketPath: socket) }
        if let env = ProcessInfo.processInfo.environment[Self.environmentVariable], !env.isEmpty {
            return AdminClient(socketPath: env)
        }
        throw ValidationError(
            "no admin socket given; pass --socket PATH or set \(Self.environmentVariable). klammerd prints the path at start ('admin …'); by default it is <data_dir>/admin.sock."
        )
    }
}
