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

    /// A client for the socket from `--socket` or the environment.
    func client() throws -> AdminClient {
        if let socket, !socket.isEmpty { return AdminClient(socketPath: socket) }
        if let env = ProcessInfo.processInfo.environment[Self.environmentVariable], !env.isEmpty {
            return AdminClient(socketPath: env)
        }
        throw ValidationError("no admin socket given; pass --socket PATH or set \(Self.environmentVariable). klammerd prints the path at start ('admin …'); by default it is <data_dir>/admin.sock.")
    }
}
