public import Foundation
import Glibc
import KlammerBroker
public import KlammerCrypto

/// The on-disk layout of a Klammer CA directory (what `klammerctl pki` works on) and the operations on it
/// (SPEC.md §8).
///
/// All writes go through ``SecureFileWriter`` (temporary file, fsync, rename, directory fsync). Commands that
/// change the directory hold an exclusive `flock` on `.lock` so two operators cannot interleave updates.
public struct CADirectory: Sendable {
    /// The directory as given.
    public let path: String

    public init(path: String) { self.path = path }

    public var certificatePath: String { file("ca.pem") }
    public var configurationPath: String { file("ca.json") }
    public var databasePath: String { file("certificates.json") }
    public var crlPath: String { file("crl.pem") }
    /// Copies of every issued certificate, named `<serial>.pem`.
    public var issuedDirectory: String { file("certs") }
    public var lockPath: String { file(".lock") }
    /// Where `init` puts the CA key unless `--ca-key` is given (relative to the directory).
    public static let defaultKeyName = "ca-key.pem"

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// The absolute or directory-relative key path from ca.json, resolved.
    public func keyPath(_ configuration: CAConfiguration) -> String {
        configuration.keyPath.hasPrefix("/") ? configuration.keyPath : file(configuration.keyPath)
    }

    // MARK: Locking

    /// Runs `body` while holding an exclusive lock on the directory; waits at most 10 s for another klammerctl.
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw PKIError("cannot open \(lockPath): \(String(cString: strerror(errno))); check that \(path) exists and is writable by you")
        }
        defer { close(fd) }  // closing releases the lock
        var attempts = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            attempts += 1
            guard errno == EWOULDBLOCK || errno == EINTR, attempts < 100 else {
                throw PKIError(
                    "another klammerctl is working on \(path) (lock \(lockPath) held for 10 s); wait for it to finish and try again")
            }
            usleep(100_000)
        }
        return try body()
    }

    // MARK: Loading

    /// Reads ca.json; fails with a hint to run `pki init` if the directory holds no CA.
    public func loadConfiguration() throws -> CAConfiguration {
        guard FileManager.default.fileExists(atPath: configurationPath) else {
            throw PKIError(
                "\(path) holds no Klammer CA (\(configurationPath) is missing); create one with `klammerctl pki init --dir \(path)` or pass the right --dir"
            )
        }
        let data = try Self.read(configurationPath, limit: 1 << 20, what: "CA configuration")
        do {
            return try Self.decoder.decode(CAConfiguration.self, from: data)
        } catch {
            throw PKIError("\(configurationPath) is corrupt (\(error)); restore it from the backup")
        }
    }

    /// Loads the CA certificate and key; refuses a key file readable by group or others.
    public func loadAuthority(_ configuration: CAConfiguration) throws -> CertificateAuthority {
        let keyPath = keyPath(configuration)
        var info = stat()
        guard stat(keyPath, &info) == 0 else {
            throw PKIError("cannot read the CA key \(keyPath): \(String(cString: strerror(errno))); is the volume holding it mounted?")
        }
        if info.st_mode & 0o077 != 0 {
            throw PKIError(
                "the CA key \(keyPath) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); run `chmod 600 \(keyPath)` and check who may have read it"
            )
        }
        let certificate: Certificate
        do {
            guard let first = try Certificate.loadAll(fromPEMFile: certificatePath).first else {
                throw PKIError("\(certificatePath) holds no certificate")
            }
            certificate = first
        }
        let key = try PrivateKey.load(fromFile: keyPath)
        return try CertificateAuthority(certificate: certificate, key: key)
    }

    /// Reads certificates.json (an empty database if init has not written one yet).
    public func loadDatabase() throws -> CADatabase {
        guard FileManager.default.fileExists(atPath: databasePath) else {
            throw PKIError("\(databasePath) is missing; the CA directory is incomplete — restore it from the backup")
        }
        let data = try Self.read(databasePath, limit: CADatabase.maximumFileSize, what: "certificate database")
        let database: CADatabase
        do {
            database = try Self.decoder.decode(CADatabase.self, from: data)
        } catch {
            throw PKIError("\(databasePath) is corrupt (\(error)); restore it from the backup")
        }
        guard database.version == CADatabase.currentVersion else {
            throw PKIError(
                "\(databasePath) has format version \(database.version), this klammerctl understands \(CADatabase.currentVersion); use a matching klammerctl"
            )
        }
        guard database.certificates.count <= CADatabase.maximumCertificates else {
            throw PKIError(
                "\(databasePath) lists \(database.certificates.count) certificates, more than the limit of \(CADatabase.maximumCertificates)"
            )
        }
        return database
    }

    // MARK: Writing

    /// Atomically replaces certificates.json (mode 0600).
    public func save(_ database: CADatabase) throws {
        try SecureFileWriter.write(Array(try Self.encoder.encode(database)), to: databasePath, mode: 0o600, overwrite: true)
    }

    /// Signs a CRL listing every revoked certificate of `database`, valid for `days`, records its number and
    /// atomically replaces crl.pem (mode 0644).
    public func publishCRL(_ authority: CertificateAuthority, database: inout CADatabase, days: Int) throws -> (
        crl: CertificateRevocationList, number: UInt64
    ) {
        let now = Date.now
        let millis = UInt64((now.timeIntervalSince1970 * 1000).rounded(.down))
        let number = max(database.lastCRLNumber + 1, millis)
        let revoked = database.certificates.filter { $0.status == .revoked }
            .map { (serialNumberHex: $0.serial, revokedAt: $0.revokedAt ?? now) }
        let lastUpdate = now - 60
        let crl = try authority.makeCRL(
            revoked: revoked, lastUpdate: lastUpdate, nextUpdate: lastUpdate + Double(days) * 86400, crlNumber: number)
        database.lastCRLNumber = number
        try save(database)
        try SecureFileWriter.write(Array(crl.pemString.utf8), to: crlPath, mode: 0o644, overwrite: true)
        return (crl, number)
    }

    // MARK: JSON

    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    private static func read(_ path: String, limit: Int, what: String) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limit else {
            throw PKIError("\(what) \(path) is \(size) bytes, more than the limit of \(limit); check that it is the right file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PKIError("cannot read \(what) \(path); check permissions")
        }
        return data
    }
}
