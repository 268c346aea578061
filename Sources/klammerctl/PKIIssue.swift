import ArgumentParser
import Foundation
import KlammerPKI
import KlammerBroker
import KlammerCrypto

/// `klammerctl pki issue`: a participant (or broker) certificate, from a fresh key pair or a CSR.
struct PKIIssue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue a certificate for a participant (new key pair, or sign a CSR).",
        discussion: """
            The certificate carries the SAN URI:urn:klammer:participant:<id> (SPEC.md §3.2) and is recorded in \
            the CA database. Without --csr a key pair is generated and OUTDIR/key.pem (0600) and OUTDIR/cert.pem \
            are written; with --csr only OUTDIR/cert.pem is written — the request's self-signature is checked, \
            only its public key is used (never its subject or extensions), and keys below BSI TR-02102-1 \
            (e.g. RSA-2048) are refused. Prints the SHA-256 fingerprint: register it with the broker.
            """
    )

    /// TLS usage of the certificate (extendedKeyUsage).
    enum Usage: String, CaseIterable, ExpressibleByArgument {
        case client
        case server

        var directoryUsage: CADirectory.Usage { self == .client ? .client : .server }
    }

    @OptionGroup var directory: PKIDirectoryOption

    @Option(help: ArgumentHelp("Participant id, scheme:value (e.g. ags:13004000).", valueName: "id"))
    var id: String

    @Option(help: "Common name of the certificate (1–64 characters), e.g. the authority's name.")
    var name: String

    @Option(help: "Organisation (O=) of the certificate.")
    var organization: String?

    @Option(
        help: ArgumentHelp("Output directory for cert.pem and key.pem (default: ./<scheme>_<value>).", valueName: "outdir"),
        completion: .directory)
    var out: String?

    @Option(help: "client (participant) or server (broker).")
    var usage: Usage = .client

    @Option(help: "Validity in days (1–3650; never beyond the CA's notAfter).")
    var days: Int = 365

    @Option(help: "Key type of the new key pair (default p256; not with --csr).")
    var keyKind: KeyKindArgument?

    @Option(
        help: ArgumentHelp("Sign this PKCS#10 request (PEM or DER) instead of generating a key.", valueName: "file"),
        completion: .file(extensions: ["csr", "pem", "der", "req"]))
    var csr: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard ParticipantIDSyntax.isValid(id) else {
            throw ValidationError(
                "'\(id)' is not a participant id; expected scheme:value such as 'ags:13004000' (scheme: lowercase letters, digits, '-', at most 16; value: letters, digits, '.', '_', '-', 1 to 64)"
            )
        }
        guard (1...64).contains(name.count) else { throw ValidationError("--name must be 1–64 characters, got \(name.count)") }
        guard (1...3650).contains(days) else { throw ValidationError("--days must be 1–3650, got \(days)") }
        if csr != nil && keyKind != nil {
            throw ValidationError("--key-kind and --csr exclude each other: with a CSR the participant chose the key")
        }
    }

    func run() throws {
        let ca = try directory.resolve()
        _ = try ca.loadConfiguration()
        let outDirectory = out ?? id.replacingOccurrences(of: ":", with: "_")
        let certificatePath = (outDirectory as NSString).appendingPathComponent("cert.pem")
        let keyPath = (outDirectory as NSString).appendingPathComponent("key.pem")
        for path in csr == nil ? [certificatePath, keyPath] : [certificatePath]
        where FileManager.default.fileExists(atPath: path) {
            throw CtlError("\(path) already exists; refusing to overwrite it. Choose another --out or move the old files away")
        }
        // An existing output directory must be private before anything is issued (the key is written into it).
        if FileManager.default.fileExists(atPath: outDirectory) {
            do { try SecureFileWriter.requirePrivateDirectory(outDirectory) } catch {
                throw CtlError("refusing --out \(outDirectory): \(error)")
            }
        }

        // With a CSR: check it before taking the lock, so a bad request fails fast.
        let publicKey: PublicKey
        let privateKey: PrivateKey?
        if let csr {
            let request = try CertificateSigningRequest.load(fromFile: csr)
            try request.verifySelfSignature()
            let key = try request.publicKey()
            guard key.meetsKlammerMinimum else {
                throw CtlError(
                    "the CSR \(csr) holds a \(key.kind) key, below the BSI TR-02102-1 minimum (EC P-256/P-384/brainpool or RSA ≥ 3072); ask the participant for a new CSR, e.g. `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=x`"
                )
            }
            publicKey = key
            privateKey = nil
        } else {
            let key = try PrivateKey.generate((keyKind ?? .p256).keyKind)
            publicKey = key.publicKey
            privateKey = key
        }

        // The CA's copy and the database entry come before the output files: a certificate that exists
        // anywhere must be known to the CA, so it can be revoked.
        let (certificate, record) = try ca.issue(
            id: id, name: name, organization: organization, publicKey: publicKey, usage: usage.directoryUsage, days: days)

        do {
            try SecureFileWriter.makePrivateDirectory(outDirectory)
            if let privateKey {
                try SecureFileWriter.write(Array(privateKey.pkcs8PEM.utf8), to: keyPath, mode: 0o600)
            }
            try SecureFileWriter.write(Array(certificate.pemString.utf8), to: certificatePath, mode: 0o644)
        } catch {
            throw CtlError(
                "certificate \(record.serial) was issued and recorded, but writing it to \(outDirectory) failed: \(error). Revoke it with `klammerctl pki revoke --serial \(record.serial)` and issue again"
            )
        }

        if json {
            let output = IssueOutput(
                certificate: ListedCertificate(record, at: .now), certificatePath: certificatePath,
                keyPath: privateKey == nil ? nil : keyPath)
            print(String(decoding: try CADirectory.encoder.encode(output), as: UTF8.self))
        } else {
            print(
                """
                issued \(certificate.subject) for \(id) (\(usage.rawValue), \(publicKey.kind))
                serial:      \(record.serial)
                fingerprint: \(record.fingerprint)
                notAfter:    \(record.notAfter.formatted(.iso8601))
                certificate: \(certificatePath)
                """)
            if privateKey != nil { print("key:         \(keyPath) (mode 0600)") }
        }
    }

    /// The `--json` output of `issue`.
    struct IssueOutput: Encodable {
        let certificate: ListedCertificate
        let certificatePath: String
        let keyPath: String?
    }
}
