import ArgumentParser

/// The operator CLI of a Klammer broker. Each area (PKI, later participants, queues, audit) is a subcommand group.
@main
struct Klammerctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammerctl",
        abstract: "Operate a Klammer broker: PKI, participants, queues, audit.",
        version: "0.1.0",
        subcommands: [PKICommand.self]
    )
}
