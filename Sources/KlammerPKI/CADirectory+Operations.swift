public import Foundation
import Glibc
import KlammerBroker
public import KlammerCrypto

extension CADirectory {
    /// TLS usage of an issued certificate (extendedKeyUsage), as recorded in the database.
    public enum Usage: String, CaseIterable, Sendable {
        case client
        case server

        var authorityUsage: CertificateAuthority.Usage { self == .client ? .client : .server }
    }

    /// Creates a CA in this directory (SPEC.md §8): key (0600, at `keyPath` or `ca-key.pem`), `ca.pem`, `certs/`,
    /// an empty database, a first CRL valid for `crlDays`, and `ca.json`. Refuses a directory that holds any of them.
    /// - Returns: the authority and the first CRL with its number.
    public func create(name: String, organization: String?, keyKind: KeyKind, days: Int, crlDays: Int, keyPath: String? = nil)
        throws -> (authority: CertificateAuthority, keyPath: String, crl: CertificateRevocationList, crlNumber: UInt64)
    {
        let resolvedKeyPath = keyPath ?? file(Self.defaultKeyName)
        for existing in [configurationPath, certificatePath, databasePath, resolvedKeyPath]
        where FileManager.default.fileExists(atPath: existing) {
            throw PKIError(
                "\(existing) already exists: \(path) already holds a CA (or the remains of one); refusing to overwrite it. Use another --dir, or move the old CA away if you really mean to replace it"
            )
        }
        try SecureFileWriter.makePrivateDirectory(path)
        guard chmod(path, 0o700) == 0 else {
            throw PKIError("cannot set mode 0700 on \(path): \(String(cString: strerror(errno)))")
        }
        return try withLock {
            let authority = try CertificateAuthority.create(
                commonName: name, organization: organization, keyKind: keyKind, notAfter: .now + Double(days) * 86400)
            // Key first: if anything later fails, the next init refuses instead of silently making a second key.
            try SecureFileWriter.write(Array(authority.key.pkcs8PEM.utf8), to: resolvedKeyPath, mode: 0o600)
            try SecureFileWriter.write(Array(authority.certificate.pemString.utf8), to: certificatePath, mode: 0o644)
            try SecureFileWriter.makePrivateDirectory(issuedDirectory)
            var database = CADatabase()
            let (crl, number) = try publishCRL(authority, database: &database, days: crlDays)
            let configuration = CAConfiguration(
                name: name,
                keyPath: keyPath == nil ? Self.defaultKeyName : resolvedKeyPath,
                keyKind: authority.key.kind.description,
                fingerprint: authority.certificate.fingerprint.hex,
                createdAt: .now)
            try SecureFileWriter.write(Array(try Self.encoder.encode(configuration)), to: configurationPath, mode: 0o600)
            return (authority, resolvedKeyPath, crl, number)
        }
    }

    /// Issues a certificate for participant `id` (SAN `URI:urn:klammer:participant:<id>`) for `publicKey`, valid
    /// `days` (never beyond the CA's notAfter), and records it: the CA's copy `certs/<serial>.pem` and the database
    /// entry are written before this returns, so a certificate that exists anywhere can be revoked.
    public func issue(id: String, name: String, organization: String?, publicKey: PublicKey, usage: Usage, days: Int)
        throws -> (certificate: Certificate, record: CADatabase.Record)
    {
        let configuration = try loadConfiguration()
        return try withLock {
            let authority = try loadAuthority(configuration)
            var database = try loadDatabase()
            guard database.certificates.count < CADatabase.maximumCertificates else {
                throw PKIError(
                    "the CA database already holds \(CADatabase.maximumCertificates) certificates; archive this CA and create a new one")
            }
            let certificate = try authority.issueParticipant(
                id: id, name: name, organization: organization, publicKey: publicKey, usage: usage.authorityUsage,
                notAfter: .now + Double(days) * 86400)
            let record = CADatabase.Record(
                serial: certificate.serialNumberHex, id: id, name: name, fingerprint: certificate.fingerprint.hex,
                notBefore: certificate.notBefore, notAfter: certificate.notAfter, usage: usage.rawValue,
                keyKind: publicKey.kind.description, issuedAt: .now, status: .valid)
            try SecureFileWriter.write(
                Array(certificate.pemString.utf8),
                to: (issuedDirectory as NSString).appendingPathComponent("\(record.serial).pem"), mode: 0o644)
            database.certificates.append(record)
            try save(database)
            return (certificate, record)
        }
    }

    /// Which certificates `revoke` acts on.
    public enum Selector: Sendable, CustomStringConvertible {
        /// One serial number (any case, colons allowed).
        case serial(String)
        /// One SHA-256 fingerprint (any case, colons allowed).
        case fingerprint(String)
        /// Every certificate of this participant.
        case participant(String)

        public var description: String {
            switch self {
            case .serial(let serial): "serial \(serial)"
            case .fingerprint(let fingerprint): "fingerprint \(fingerprint)"
            case .participant(let id): "id \(id)"
            }
        }

        func matches(_ record: CADatabase.Record) -> Bool {
            switch self {
            case .serial(let serial): record.serial == CADirectory.canonicalSerial(serial)
            case .fingerprint(let fingerprint): record.fingerprint == CertificateFingerprint(hex: fingerprint)?.hex
            case .participant(let id): record.id == id
            }
        }
    }

    /// Marks every not yet revoked certificate `selector` matches revoked (with `reason`, database only) and
    /// publishes a new CRL valid for `crlDays`; the database save makes the revocation durable together with the
    /// new CRL number.
    /// - Returns: the records revoked now and the new CRL with its number.
    public func revoke(_ selector: Selector, reason: String, crlDays: Int)
        throws -> (revoked: [CADatabase.Record], crl: CertificateRevocationList, crlNumber: UInt64)
    {
        let configuration = try loadConfiguration()
        return try withLock {
            let authority = try loadAuthority(configuration)
            var database = try loadDatabase()
            let matches = database.certificates.indices.filter { selector.matches(database.certificates[$0]) }
            guard !matches.isEmpty else {
                throw PKIError("no certificate in \(databasePath) matches \(selector); check with `klammerctl pki list`")
            }
            let toRevoke = matches.filter { database.certificates[$0].status != .revoked }
            guard !toRevoke.isEmpty else {
                throw PKIError(
                    "every certificate matching \(selector) is already revoked; nothing changed (run `klammerctl pki crl` to republish the CRL)"
                )
            }
            let now = Date.now
            for index in toRevoke {
                database.certificates[index].status = .revoked
                database.certificates[index].revokedAt = now
                database.certificates[index].revocationReason = reason
            }
            let (crl, number) = try publishCRL(authority, database: &database, days: crlDays)
            return (toRevoke.map { database.certificates[$0] }, crl, number)
        }
    }

    /// Lowercase hex of the minimal big-endian bytes, even length (SPEC.md §3.2); nil if not hex.
    public static func canonicalSerial(_ text: String) -> String? {
        let digits = text.replacingOccurrences(of: ":", with: "").lowercased()
        guard !digits.isEmpty, digits.count <= 42, digits.allSatisfy(\.isHexDigit) else { return nil }
        var trimmed = String(digits.drop { $0 == "0" })
        if trimmed.isEmpty { return "00" }
        if trimmed.count % 2 == 1 { trimmed = "0" + trimmed }
        return trimmed
    }
}
