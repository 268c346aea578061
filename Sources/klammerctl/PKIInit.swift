import ArgumentParser
import Foundation
import KlammerPKI
import Glibc
import KlammerBroker
import KlammerCrypto

/// `klammerctl pki init`: creates the CA key, the self-signed CA certificate, an empty CRL and the database.
struct PKIInit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new certificate authority (key, certificate, empty CRL, database).",
        discussion: """
            Refuses to touch a directory that already holds a CA or a CA key. The directory is created with mode \
            0700 and the key with 0600. With --ca-key the key is written there instead (e.g. to a removable \
            volume) and ca.json records its path.
            """
    )

    @OptionGroup var directory: PKIDirectoryOption

    @Option(help: "Common name of the CA certificate (1–64 characters).")
    var name: String = "Klammer CA"

    @Option(help: "Organisation (O=) of the CA certificate.")
    var organization: String?

    @Option(help: "Key type of the CA key.")
    var keyKind: KeyKindArgument = .p256

    @Option(
        help: ArgumentHelp("Write the CA key to this file instead of DIR/ca-key.pem.", valueName: "path"),
        completion: .file())
    var caKey: String?

    @Option(help: "Validity of the CA certificate in days (1–7300).")
    var days: Int = 3650

    @Option(help: "Validity of the initial (empty) CRL in days (1–366).")
    var crlDays: Int = 7

    func validate() throws {
        guard (1...7300).contains(days) else { throw ValidationError("--days must be 1–7300, got \(days)") }
        guard (1...366).contains(crlDays) else { throw ValidationError("--crl-days must be 1–366, got \(crlDays)") }
        guard (1...64).contains(name.count) else { throw ValidationError("--name must be 1–64 characters, got \(name.count)") }
    }

    func run() throws {
        let ca = try directory.resolve()
        let (authority, keyPath, crl, number) = try ca.create(
            name: name, organization: organization, keyKind: keyKind.keyKind, days: days, crlDays: crlDays,
            keyPath: caKey.map(Self.absolute))
        print(
            """
            created CA \(authority.certificate.subject) in \(ca.path)
            certificate: \(ca.certificatePath)
            key:         \(keyPath) (\(authority.key.kind), mode 0600)
            fingerprint: \(authority.certificate.fingerprint.hex)
            notAfter:    \(authority.certificate.notAfter.formatted(.iso8601))
            crl:         \(ca.crlPath) (number \(number), nextUpdate \(crl.nextUpdate?.formatted(.iso8601) ?? "-"))
            """)
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
    }
}
