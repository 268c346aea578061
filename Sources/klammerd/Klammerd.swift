import ArgumentParser
import KlammerCrypto

@main
struct Klammerd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammerd",
        abstract: "The Klammer broker daemon.",
        version: "0.1.0"
    )

    func run() async throws {
        print("klammerd on \(OpenSSLVersion.text)")
    }
}
