import ArgumentParser
import Foundation
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
        if let serial, Self.canonicalSerial(serial) == nil {
            throw ValidationError("--serial '\(serial)' is not a hex serial number (e.g. 3f09a1…, as printed by `pki list`)")
        }
        if let fingerprint, CertificateFingerprint(hex: fingerprint) == nil {
            throw ValidationError("--fingerprint '\(fingerprint)' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
        }
        guard (1...366).contains(crlDays) else { throw ValidationError("--crl-days must be 1–366, got \(crlDays)") }
    }

    func run() throws {
        let ca = try directory.resolve()
        let configuration = try ca.loadConfiguration()
        try ca.withLock {
            let authority = try ca.loadAuthority(configuration)
            var database = try ca.loadDatabase()
            let matches = database.certificates.indices.filter { index in
                let record = database.certificates[index]
                if let serial { return record.serial == Self.canonicalSerial(serial) }
                if let fingerprint { return record.fingerprint == CertificateFingerprint(hex: fingerprint)?.hex }
                return record.id == id
            }
            guard !matches.isEmpty else {
                throw CtlError("no certificate in \(ca.databasePath) matches \(selector); check with `klammerctl pki list`")
            }
            let toRevoke = matches.filter { database.certificates[$0].status != .revoked }
            guard !toRevoke.isEmpty else {
                throw CtlError("every certificate matching \(selector) is already revoked; nothing changed (run `klammerctl pki crl` to republish the CRL)")
            }
            let now = Date.now
            for index in toRevoke {
                database.certificates[index].status = .revoked
                database.certificates[index].revokedAt = now
                database.certificates[index].revocationReason = reason.rawValue
            }
            // The database save inside publishCRL makes the revocation durable together with the new CRL number.
            let (crl, number) = try ca.publishCRL(authority, database: &database, days: crlDays)
            for index in toRevoke {
                let record = database.certificates[index]
                print("revoked \(record.id) serial \(record.serial) fingerprint \(record.fingerprint) (\(reason.rawValue))")
            }
            print("published \(ca.crlPath): number \(number), \(crl.revokedSerialNumbers.count) revoked, nextUpdate \(crl.nextUpdate?.formatted(.iso8601) ?? "-")")
        }
    }

    private var selector: String {
        if let serial { return "serial \(serial)" }
        if let fingerprint { return "fingerprint \(fingerprint)" }
        return "id \(id ?? "")"
    }

    /// Lowercase hex of the minimal big-endian bytes, even length (SPEC.md §3.2); nil if not hex.
    static func canonicalSerial(_ text: String) -> String? {
        let digits = text.replacingOccurrences(of: ":", with: "").lowercased()
        guard !digits.isEmpty, digits.count <= 42, digits.allSatisfy(\.isHexDigit) else { return nil }
        var trimmed = String(digits.drop { $0 == "0" })
        if trimmed.isEmpty { return "00" }
        if trimmed.count % 2 == 1 { trimmed = "0" + trimmed }
        return trimmed
    }
}
