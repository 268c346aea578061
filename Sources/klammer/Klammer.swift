import ArgumentParser
import KlammerCrypto

@main
struct Klammer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammer",
        abstract: "Send and receive signed documents through a Klammer broker.",
        version: "0.1.0"
    )
}
