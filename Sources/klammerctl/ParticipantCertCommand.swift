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
struct ParticipantCertAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a certificate to a participant (the old ones keep working).")

    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
    @Option(help: ArgumentHelp("The new certificate (PEM file).", valueName: "file"), completion: .file()) var cert: String

    func run() throws {
        let request = AddCertificateRequest(certificatePem: try CertificateFile.read(cert))
        let participant = try socket.client().call(
            "POST", "/v1/participants/\(AdminClient.segment(id))/certificates", body: request, as: AdminParticipantView.self)
        print("\(participant.id) now has \(participant.certificates.count) certificate(s):")
        for certificate in participant.certificates { print("  \(certificate.fingerprint)  until \(Output.date(certificate.notAfter))") }
    }
}

/// `klammerctl participant cert remove ID --fingerprint FP`.
struct ParticipantCertRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a certificate from a participant by its SHA-256 fingerprint.")

    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
    @Option(help: ArgumentHelp("SHA-256 fingerprint (64 hex digits; colons allowed).", valueName: "hex")) var fingerprint: String

    func run() throws {
        let participant = try socket.client().call(
            "DELETE", "/v1/participants/\(AdminClient.segment(id))/certificates/\(AdminClient.segment(fingerprint))",
            as: AdminParticipantView.self)
        print("\(participant.id) now has \(participant.certificates.count) certificate(s):")
        for certificate in participant.certificates { print("  \(certificate.fingerprint)  until \(Output.date(certificate.notAfter))") }
    }
}
