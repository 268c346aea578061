import Foundation
import Testing
@testable import KlammerCrypto

@Suite struct CertificateRevocationListTests {
    @Test func makeCRLListsRevokedSerialsInAnySpelling() throws {
        let ca = Fixtures.ca
        let revokedAt = Date(timeIntervalSince1970: 1_760_000_000)
        let last = Date(timeIntervalSince1970: 1_770_000_000)
        let next = last + 7 * 86400
        let crl = try ca.makeCRL(revoked: [("0A1B", revokedAt), ("00:ff:01", revokedAt)], lastUpdate: last, nextUpdate: next, crlNumber: 42)
        #expect(crl.issuer == ca.certificate.subject)
        #expect(crl.lastUpdate == last)
        #expect(crl.nextUpdate == next)
        #expect(crl.crlNumberHex == "2a")
        #expect(crl.revokedSerialNumbers == ["0a1b", "ff01"])
        #expect(crl.isRevoked(serialNumberHex: "0a1b"))
        #expect(crl.isRevoked(serialNumberHex: "A1B"))
        #expect(crl.isRevoked(serialNumberHex: "FF:01"))
        #expect(!crl.isRevoked(serialNumberHex: "0a1c"))
        #expect(!crl.isRevoked(serialNumberHex: "zz"))
        #expect(crl.isSigned(by: ca.certificate))
        let stranger = try CertificateAuthority.create(commonName: "Other CA")
        #expect(!crl.isSigned(by: stranger.certificate))
    }

    @Test func revokedCertificateIsFound() throws {
        let ca = Fixtures.ca
        let leaf = try ca.issue(commonName: "leaf", publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client)
        let crl = try ca.makeCRL(revoked: [(leaf.serialNumberHex.uppercased(), .now)])
        #expect(crl.isRevoked(leaf))
        #expect(!crl.isRevoked(ca.certificate))
        let empty = try ca.makeCRL(revoked: [])
        #expect(!empty.isRevoked(leaf))
        #expect(empty.revokedSerialNumbers.isEmpty)
    }

    @Test func pemDERAndFileRoundTrip() throws {
        let dir = try TempDir()
        let crl = try Fixtures.ca.makeCRL(revoked: [("01", .now)])
        #expect(crl.pemString.hasPrefix("-----BEGIN X509 CRL-----\n"))
        #expect(try CertificateRevocationList(pem: crl.pemString).derBytes == crl.derBytes)
        #expect(try CertificateRevocationList(der: crl.derBytes).derBytes == crl.derBytes)
        let second = try Fixtures.ca.makeCRL(revoked: [])
        let path = try dir.write("crls.pem", crl.pemString + second.pemString)
        let loaded = try CertificateRevocationList.loadAll(fromPEMFile: path)
        #expect(loaded.map(\.derBytes) == [crl.derBytes, second.derBytes])
        let derPath = try dir.write("crl.der", bytes: crl.derBytes)
        #expect(try CertificateRevocationList.loadAll(fromPEMFile: derPath).count == 1)
        #expect((#expect(throws: CryptoError.self) { try CertificateRevocationList(pem: "junk") })?.code == .invalidEncoding)
    }

    @Test func crlNumbersIncreaseByDefault() throws {
        let a = try Fixtures.ca.makeCRL(revoked: [])
        Thread.sleep(forTimeInterval: 0.005)
        let b = try Fixtures.ca.makeCRL(revoked: [])
        let na = try #require(a.crlNumberHex.flatMap { UInt64($0, radix: 16) })
        let nb = try #require(b.crlNumberHex.flatMap { UInt64($0, radix: 16) })
        #expect(nb > na)
    }
}
