import Foundation
import KlammerCrypto
import KlammerTestSupport
import Testing

/// `klammerctl pki revoke` and `pki crl`, checked with `openssl verify -crl_check`.
@Suite struct PKIRevocationTests {
    @Test func revokedCertificateFailsOpenSSLVerifyWhileOthersPass() throws {
        let tmp = try PKIIssueTests.makeCA()
        for (id, out) in [("ags:1", "a"), ("ags:2", "b")] {
            let result = try ProcessRunner.klammerctl(["pki", "issue", "--dir", "ca", "--id", id, "--name", id, "--out", out], in: tmp)
            #expect(result.status == 0, "\(result.stderr)")
        }
        let a = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("a/cert.pem")).first)
        let revoke = try ProcessRunner.klammerctl(
            ["pki", "revoke", "--dir", "ca", "--fingerprint", a.fingerprint.hex.uppercased(), "--reason", "keyCompromise"], in: tmp)
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect(revoke.stdout.contains(a.serialNumberHex))

        let verifyA = try ProcessRunner.openssl(
            ["verify", "-crl_check", "-CAfile", "ca/ca.pem", "-CRLfile", "ca/crl.pem", "a/cert.pem"], in: tmp)
        #expect(verifyA.status != 0)
        #expect((verifyA.stdout + verifyA.stderr).contains("certificate revoked"))
        let verifyB = try ProcessRunner.openssl(
            ["verify", "-crl_check", "-CAfile", "ca/ca.pem", "-CRLfile", "ca/crl.pem", "b/cert.pem"], in: tmp)
        #expect(verifyB.status == 0, "\(verifyB.stdout)\(verifyB.stderr)")

        let list = try ProcessRunner.klammerctl(["pki", "list", "--dir", "ca", "--json"], in: tmp)
        let entries = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        let statuses = Dictionary(uniqueKeysWithValues: (entries ?? []).map { ($0["id"] as? String ?? "", $0["status"] as? String ?? "") })
        #expect(statuses == ["ags:1": "revoked", "ags:2": "valid"])
    }

    @Test func revokeBySerialAndByIDAndTwiceIsRefused() throws {
        let tmp = try PKIIssueTests.makeCA()
        #expect(
            try ProcessRunner.klammerctl(["pki", "issue", "--dir", "ca", "--id", "ags:1", "--name", "x", "--out", "a"], in: tmp).status == 0
        )
        #expect(
            try ProcessRunner.klammerctl(["pki", "issue", "--dir", "ca", "--id", "ags:2", "--name", "x", "--out", "b"], in: tmp).status == 0
        )
        let a = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("a/cert.pem")).first)
        // openssl prints the serial uppercase; any spelling is accepted.
        let bySerial = try ProcessRunner.klammerctl(["pki", "revoke", "--dir", "ca", "--serial", a.serialNumberHex.uppercased()], in: tmp)
        #expect(bySerial.status == 0, "\(bySerial.stderr)")
        let twice = try ProcessRunner.klammerctl(["pki", "revoke", "--dir", "ca", "--serial", a.serialNumberHex], in: tmp)
        #expect(twice.status != 0)
        #expect(twice.stderr.contains("already revoked"))
        let byID = try ProcessRunner.klammerctl(["pki", "revoke", "--dir", "ca", "--id", "ags:2"], in: tmp)
        #expect(byID.status == 0, "\(byID.stderr)")
        let crl = try #require(try CertificateRevocationList.loadAll(fromPEMFile: tmp.path("ca/crl.pem")).first)
        #expect(crl.revokedSerialNumbers.count == 2)
        let unknown = try ProcessRunner.klammerctl(["pki", "revoke", "--dir", "ca", "--serial", "0abc"], in: tmp)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("no certificate"))
        let none = try ProcessRunner.klammerctl(["pki", "revoke", "--dir", "ca"], in: tmp)
        #expect(none.status != 0)
        #expect(none.stderr.contains("exactly one of"))
    }

    @Test func crlIsRepublishedWithIncreasingNumber() throws {
        let tmp = try PKIIssueTests.makeCA()
        let first = try #require(try CertificateRevocationList.loadAll(fromPEMFile: tmp.path("ca/crl.pem")).first)
        let result = try ProcessRunner.klammerctl(["pki", "crl", "--dir", "ca", "--days", "30", "--json"], in: tmp)
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        #expect(object?["number"] != nil)
        #expect(object?["nextUpdate"] != nil)
        let second = try #require(try CertificateRevocationList.loadAll(fromPEMFile: tmp.path("ca/crl.pem")).first)
        let firstNumber = try #require(UInt64(first.crlNumberHex ?? "", radix: 16))
        let secondNumber = try #require(UInt64(second.crlNumberHex ?? "", radix: 16))
        #expect(secondNumber > firstNumber)
        let nextUpdate = try #require(second.nextUpdate)
        #expect(nextUpdate > Date.now + 29 * 86400)
        #expect(try tmp.mode("ca/crl.pem") == 0o644)
    }
}
