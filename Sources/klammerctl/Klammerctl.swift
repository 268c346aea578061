import ArgumentParser
import KlammerCrypto

@main
struct Klammerctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammerctl",
        abstract: "Operate a Klammer broker: PKI, participants, queues, audit.",
        version: "0.1.0"
    )
}
