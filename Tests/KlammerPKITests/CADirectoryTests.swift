import Foundation
import KlammerCrypto
import KlammerPKI
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The CA directory in-process (SPEC.md §8): create, issue, revoke and CRLs, the files each leaves, and refusals.
struct CADirectoryTests {
    /// A fresh CA directory path under the temporary directory (not created), removed when released.
    final class Scratch {
        let root = NSTemporaryDirectory() + "klammer-pki-\(UUID().uuidString.prefix(8))"
        var ca: CADirectory { CADirectory(path: root + "/ca") }
        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions]) as? NSNumber)?.intValue ?? -1
    }

    @Test func createLeavesTheDocumentedLayoutAndRefusesASecondCA() throws {
        let scratch = Scratch()
        let ca = scratch.ca
        let (authority, keyPath, crl, number) = try ca.create(name: "Test CA", organization: nil, keyKind: .p256, days: 30, crlDays: 7)
        #expect(keyPath == ca.file(CADirectory.defaultKeyName))
        for path in [ca.certificatePath, ca.configurationPath, ca.databasePath, ca.crlPath, ca.issuedDirectory, keyPath] {
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        #expect(mode(ca.path) == 0o700 && mode(keyPath) == 0o600 && mode(ca.databasePath) == 0o600 && mode(ca.crlPath) == 0o644)
        let configuration = try ca.loadConfiguration()
        #expect(configuration.name == "Test CA" && configuration.fingerprint == authority.certificate.fingerprint.hex)
        #expect(try ca.loadDatabase().lastCRLNumber == number)
        #expect(crl.revokedSerialNumbers.isEmpty)
        #expect(throws: PKIError.self) { try ca.create(name: "Again", organization: nil, keyKind: .p256, days: 30, crlDays: 7) }
    }

    @Test func issueRecordsAndRevokeListsInTheNextCRL() throws {
        let scratch = Scratch()
        let ca = scratch.ca
        let (authority, _, _, firstNumber) = try ca.create(name: "Test CA", organization: nil, keyKind: .p256, days: 30, crlDays: 7)
        let key = try PrivateKey.generate(.p256)
        let (certificate, record) = try ca.issue(
            id: "ags:13004000", name: "Schwerin", organization: nil, publicKey: key.publicKey, usage: .client, days: 10)
        #expect(certificate.klammerParticipantID == "ags:13004000")
        #expect(throws: Never.self) {
            try TrustStore(anchors: [authority.certificate], crls: [], requireCRL: false).verify(certificate, purpose: .tlsClient)
        }
        #expect(record.serial == certificate.serialNumberHex && record.status == .valid && record.usage == "client")
        #expect(FileManager.default.fileExists(atPath: ca.issuedDirectory + "/\(record.serial).pem"))
        // Dates are stored to the second (ISO 8601), so the stored record is compared by its identifying fields.
        #expect(
            try ca.loadDatabase().certificates.map { [$0.serial, $0.id, $0.fingerprint, $0.status.rawValue] } == [
                [record.serial, "ags:13004000", record.fingerprint, "valid"]
            ])

        // Another of the same participant, then both revoked by id; the CRL lists both, its number grows.
        let (second, _) = try ca.issue(
            id: "ags:13004000", name: "Schwerin", organization: nil, publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client,
            days: 10)
        let (revoked, crl, number) = try ca.revoke(.participant("ags:13004000"), reason: "keyCompromise", crlDays: 7)
        #expect(Set(revoked.map(\.serial)) == [record.serial, second.serialNumberHex])
        #expect(Set(crl.revokedSerialNumbers) == [record.serial, second.serialNumberHex])
        #expect(number > firstNumber)
        #expect(try CertificateRevocationList.loadAll(fromPEMFile: ca.crlPath).first?.revokedSerialNumbers.count == 2)
        #expect(try ca.loadDatabase().certificates.allSatisfy { $0.status == .revoked && $0.revocationReason == "keyCompromise" })
        #expect(ListedCertificate(try ca.loadDatabase().certificates[0], at: .now).status == "revoked")

        // Nothing left to revoke, or nothing matching: refused, nothing changes.
        #expect(throws: PKIError.self) { try ca.revoke(.serial(record.serial.uppercased()), reason: "x", crlDays: 7) }
        #expect(throws: PKIError.self) { try ca.revoke(.fingerprint(String(repeating: "a", count: 64)), reason: "x", crlDays: 7) }
        #expect(try ca.loadDatabase().lastCRLNumber == number)
    }

    @Test func aCAKeyOthersCanReadIsRefused() throws {
        let scratch = Scratch()
        let ca = scratch.ca
        let (_, keyPath, _, _) = try ca.create(name: "Test CA", organization: nil, keyKind: .p256, days: 30, crlDays: 7)
        chmod(keyPath, 0o644)
        do {
            _ = try ca.issue(
                id: "ags:1", name: "x", organization: nil, publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client, days: 1)
            Issue.record("expected the open key to be refused")
        } catch let error as PKIError {
            #expect(error.message.contains("chmod 600"))
        }
        #expect(try ca.loadDatabase().certificates.isEmpty)
    }

    @Test func aDirectoryWithoutCAIsNamed() {
        let scratch = Scratch()
        #expect(throws: PKIError.self) { try scratch.ca.loadConfiguration() }
    }

    @Test func serialsAreCanonical() {
        #expect(CADirectory.canonicalSerial("0A:BC") == "0abc")
        #expect(CADirectory.canonicalSerial("00ABC") == "0abc")
        #expect(CADirectory.canonicalSerial("000") == "00")
        #expect(CADirectory.canonicalSerial("xyz") == nil)
        #expect(CADirectory.canonicalSerial(String(repeating: "1", count: 43)) == nil)
    }
}
