import ArgumentParser
import Foundation
import KlammerAdmin

/// `klammerctl participant add --id ID --name NAME --cert FILE [--allow PATTERN …]`.
struct ParticipantAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Register a participant with its certificate (active at once).",
        discussion: "The certificate must chain to the broker's CA, and its participant SAN (if any) must name the same id."
    )

    @OptionGroup var socket: AdminSocketOption

    @Option(help: ArgumentHelp("The participant id (scheme:value), e.g. ags:13004000.", valueName: "id"))
    var id: String

    @Option(help: ArgumentHelp("The display name, e.g. 'Landeshauptstadt Schwerin'.", valueName: "name"))
    var name: String

    @Option(help: ArgumentHelp("The participant's certificate (PEM file).", valueName: "file"), completion: .file())
    var cert: String

    @Option(
        name: .customLong("allow"),
        help: ArgumentHelp("A routing pattern the participant may send to (repeatable; default '*').", valueName: "pattern"))
    var allow: [String] = []

    @Flag(help: "Print the registered participant as JSON.")
    var json = false

    func run() async throws {
        let pem = try CertificateFile.read(cert)
        let request = AddParticipantRequest(id: id, name: name, certificatePem: pem, policy: allow.isEmpty ? nil : allow)
        let added = try await socket.client().call(.addParticipant, body: request, as: AdminParticipantView.self)
        if json { return try Output.json(added) }
        print("added \(added.id) (\(added.name)), status \(added.status), certificate \(added.certificates.first?.fingerprint ?? "?")")
    }
}

/// Reads a certificate file for upload, bounded.
enum CertificateFile {
    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CtlError("cannot read the certificate file \(path); check the path")
        }
        guard data.count <= 64 * 1024 else { throw CtlError("\(path) is larger than 64 KiB; expected one PEM certificate") }
        guard let text = String(data: data, encoding: .utf8), text.contains("-----BEGIN CERTIFICATE-----") else {
            throw CtlError(
                "\(path) is not a PEM certificate (no '-----BEGIN CERTIFICATE-----'); convert DER with 'openssl x509 -inform DER -in FILE -out cert.pem'"
            )
        }
        return text
    }
}
