import ArgumentParser
import KlammerAdmin

/// `klammerctl participant cert add|remove`: certificate rollover.
struct ParticipantCertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Roll a participant's certificate over: add the new one, then remove the old one.",
        subcommands: [ParticipantCertAdd.self, ParticipantCertRemove.self]
    )
}

/// `klammerctl participant cert add ID --cert FILE`.
struct ParticipantCertAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a certificate to a participant (the old ones keep working).")

    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
    @Option(help: ArgumentHelp("The new certificate (PEM file).", valueName: "file"), completion: .file()) var cert: String

    func run() async throws {
        let request = AddCertificateRequest(certificatePem: try CertificateFile.read(cert))
        let participant = try await socket.client().call(
            .addCertificate(id), body: request, as: AdminParticipantView.self)
        print("\(participant.id) now has \(participant.certificates.count) certificate(s):")
        for certificate in participant.certificates { print("  \(certificate.fingerprint)  until \(Output.date(certificate.notAfter))") }
    }
}

/// `klammerctl participant cert remove ID --fingerprint FP`.
struct ParticipantCertRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a certificate from a participant by its SHA-256 fingerprint.")

    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
    @Option(help: ArgumentHelp("SHA-256 fingerprint (64 hex digits; colons allowed).", valueName: "hex")) var fingerprint: String

    func run() async throws {
        let participant = try await socket.client().call(
            .removeCertificate(id, fingerprint: fingerprint),
            as: AdminParticipantView.self)
        print("\(participant.id) now has \(participant.certificates.count) certificate(s):")
        for certificate in participant.certificates { print("  \(certificate.fingerprint)  until \(Output.date(certificate.notAfter))") }
    }
}
