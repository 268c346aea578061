import Foundation
import KlammerTestSupport
import Testing

/// `klammerctl pki expiring` and `pki list`.
@Suite struct PKIListingTests {
    static func ids(_ json: String) throws -> [String] {
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        return array.compactMap { $0["id"] as? String }
    }

    @Test func expiringHonoursTheLookAhead() throws {
        let tmp = try PKIIssueTests.makeCA()
        #expect(
            try ProcessRunner.klammerctl(
                ["pki", "issue", "--dir", "ca", "--id", "ags:5", "--name", "x", "--days", "5", "--out", "a"], in: tmp
            ).status == 0)
        #expect(
            try ProcessRunner.klammerctl(["pki", "issue", "--dir", "ca", "--id", "ags:365", "--name", "x", "--out", "b"], in: tmp).status
                == 0)
        let ten = try ProcessRunner.klammerctl(["pki", "expiring", "--dir", "ca", "--days", "10", "--json"], in: tmp)
        #expect(ten.status == 0, "\(ten.stderr)")
        #expect(try Self.ids(ten.stdout) == ["ags:5"])
        let two = try ProcessRunner.klammerctl(["pki", "expiring", "--dir", "ca", "--days", "2", "--json"], in: tmp)
        #expect(try Self.ids(two.stdout) == [])
        let text = try ProcessRunner.klammerctl(["pki", "expiring", "--dir", "ca", "--days", "10"], in: tmp)
        #expect(text.stdout.contains("ags:5"))
        #expect(!text.stdout.contains("ags:365"))
    }

    @Test func listJSONHasTheRecordFields() throws {
        let tmp = try PKIIssueTests.makeCA()
        #expect(
            try ProcessRunner.klammerctl(["pki", "issue", "--dir", "ca", "--id", "ags:13004000", "--name", "Mitte", "--out", "a"], in: tmp)
                .status == 0)
        let result = try ProcessRunner.klammerctl(["pki", "list", "--dir", "ca", "--json"], in: tmp)
        #expect(result.status == 0, "\(result.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let entry = try #require(array.first)
        for key in ["id", "name", "serial", "fingerprint", "notBefore", "notAfter", "status"] {
            #expect(entry[key] != nil, "\(key) missing")
        }
        #expect(entry["status"] as? String == "valid")
        let empty = try ProcessRunner.klammerctl(["pki", "list", "--dir", "ca", "--id", "ags:1", "--json"], in: tmp)
        #expect(try Self.ids(empty.stdout) == [])
    }
}
