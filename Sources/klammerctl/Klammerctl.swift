import ArgumentParser

/// The operator CLI of a Klammer broker. Each area (PKI, participants, audit, status) is a subcommand group;
/// everything but `pki` talks to a running klammerd through its admin socket.
@main
struct Klammerctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammerctl",
        abstract: "Operate a Klammer broker: PKI, participants, queues, audit.",
        version: "0.1.0",
        subcommands: [
            PKICommand.self, ParticipantCommand.self, QueueCommand.self, DLQCommand.self, MessageCommand.self,
            StoreCommand.self, AuditCommand.self, StatusCommand.self, ReloadCommand.self
        ]
    )
}
