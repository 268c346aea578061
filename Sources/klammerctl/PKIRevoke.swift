import ArgumentParser
import Foundation
import KlammerPKI
import KlammerCrypto

/// `klammerctl pki revoke`: marks certificates revoked in the database and publishes a new CRL at once.
struct PKIRevoke: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke certificates (by serial, fingerprint or participant id) and publish a new CRL.",
        discussion: """
            --id revokes every certificate of that participant that is not yet revoked. The reason is recorded in \
            the database only (Klammer CRLs carry no reason codes, SPEC.md §3.4). Distribute the new crl.pem to \
            the brokers right away.
            """
    )

    /// RFC 5280 reason codes an operator may record.
    enum Reason: String, CaseIterable, ExpressibleByArgument {
        case unspecified, keyCompromise, caCompromise, affiliationChanged, superseded, cessationOfOperation
    }

    @OptionGroup var directory: PKIDirectoryOption

    @Option(help: ArgumentHelp("Serial number in hex (any case, colons allowed).", valueName: "hex"))
    var serial: String?

    @Option(help: ArgumentHelp("SHA-256 fingerprint in hex (any case, colons allowed).", valueName: "hex"))
    var fingerprint: String?

    @Option(help: ArgumentHelp("Participant id: revoke all its unrevoked certificates.", valueName: "id"))
    var id: String?

    @Option(help: "Reason, recorded in the database.")
    var reason: Reason = .unspecified

    @Option(help: "Validity of the new CRL in days (1–366).")
    var crlDays: Int = 7

    func validate() throws {
        let given = [serial, fingerprint, id].compactMap { $0 }.count
        guard given == 1 else {
            throw ValidationError("give exactly one of --serial, --fingerprint or --id (got \(given))")
        }
        if let serial, CADirectory.canonicalSerial(serial) == nil {
            throw ValidationError("--serial '\(serial)' is not a hex serial number (e.g. 3f09a1…, as printed by `pki list`)")
        }
        if let fingerprint, CertificateFingerprint(hex: fingerprint) == nil {
            throw ValidationError("--fingerprint '\(fingerprint)' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
        }
        guard (1...366).contains(crlDays) else { throw ValidationError("--crl-days must be 1–366, got \(crlDays)") }
    }

    func run() throws {
        let ca = try directory.resolve()
        let (revoked, crl, number) = try ca.revoke(selector, reason: reason.rawValue, crlDays: crlDays)
        for record in revoked {
            print("revoked \(record.id) serial \(record.serial) fingerprint \(record.fingerprint) (\(reason.rawValue))")
        }
        print(
            "published \(ca.crlPath): number \(number), \(crl.revokedSerialNumbers.count) revoked, nextUpdate \(crl.nextUpdate?.formatted(.iso8601) ?? "-")"
        )
    }

    private var selector: CADirectory.Selector {
        if let serial { return .serial(serial) }
        if let fingerprint { return .fingerprint(fingerprint) }
        return .participant(id ?? "")
    }
}
