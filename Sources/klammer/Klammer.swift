import ArgumentParser

/// The agency CLI: send, receive, inspect and verify signed documents through a Klammer broker.
@main
struct Klammer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammer",
        abstract: "Send and receive signed documents through a Klammer broker.",
        discussion: """
            Credentials and broker come from --cert/--key/--ca/--broker, a --profile file (JSON or key = value lines \
            with the keys cert, key, ca, crl, broker), or the environment variables KLAMMER_CERT, KLAMMER_KEY, \
            KLAMMER_CA, KLAMMER_CRL, KLAMMER_BROKER — in this order of precedence.
            """,
        version: "0.1.0",
        subcommands: [SendCommand.self, ReceiveCommand.self, StatusCommand.self, DirectoryCommand.self, VerifyCommand.self]
    )
}
