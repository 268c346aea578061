import ArgumentParser
import KlammerAdmin
import KlammerAudit
import KlammerCrypto

/// `klammerctl audit verify [--file PATH [--broker-cert FILE]]`.
struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Check the audit log's hash chain and checkpoint signatures; exit 1 and name the first bad entry if it was tampered with.",
        discussion: """
            Without --file, klammerd checks its own log (with its certificate, and against the last entry it wrote). \
            With --file, the file is checked here, offline; give --broker-cert to verify the checkpoint signatures too.
            """
    )

    @OptionGroup var socket: AdminSocketOption

    @Option(help: ArgumentHelp("Verify this audit log file offline.", valueName: "path"), completion: .file())
    var file: String?

    @Option(
        name: .customLong("broker-cert"),
        help: ArgumentHelp("The broker certificate (PEM) checkpoints must verify with (with --file).", valueName: "file"),
        completion: .file())
    var brokerCert: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let report: AuditVerification
        if let file {
            let certificate = try brokerCert.map { path -> Certificate in
                guard let first = try Certificate.loadAll(fromPEMFile: path).first else { throw CtlError("\(path) holds no certificate") }
                return first
            }
            report = try AuditVerifier.verify(path: file, brokerCertificate: certificate)
        } else {
            guard brokerCert == nil else { throw ValidationError("--broker-cert needs --file (klammerd uses its own certificate)") }
            let reply = try await socket.client().send(.auditVerify)
            guard reply.status == 200 || reply.status == 409 else {
                let error = AdminError.decode(status: reply.status, body: reply.body)
                throw CtlError(error?.description ?? "the admin API answered HTTP \(reply.status)")
            }
            report = try AdminJSON.decoder().decode(AuditVerification.self, from: .init(reply.body))
        }
        if json {
            try Output.json(report)
        } else {
            print("entries      \(report.entries) (last \(report.lastSequence), SHA-256 \(report.lastHash))")
            print(
                "checkpoints  \(report.checkpoints) present, \(report.verifiedCheckpoints) verified (last at entry \(report.lastVerifiedCheckpoint))"
            )
            print("unanchored   \(report.unanchoredEntries) entries after the last verified checkpoint")
            if report.tornTailBytes > 0 { print("torn tail    \(report.tornTailBytes) bytes after the last complete entry") }
            print(report.isIntact ? "intact" : "NOT INTACT")
        }
        if let problem = report.problem {
            throw CtlError(
                "audit log tampered or damaged: \(problem.kind.rawValue) at line \(problem.line), entry \(problem.sequence): \(problem.message)"
            )
        }
    }
}
