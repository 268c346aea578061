import Foundation
import Testing
@testable import KlammerClient

@Suite struct ClientProfileTests {
    @Test func keyValueProfileResolvesRelativePaths() throws {
        let text = """
            # Schwerin's profile
            cert = schwerin/cert.pem
            key = "/secure/key.pem"
            ca=ca.pem
            broker = broker.example:7701
            """
        let p = try ClientProfile.parse(text, relativeTo: "/etc/klammer")
        #expect(p.certificatePath == "/etc/klammer/schwerin/cert.pem")
        #expect(p.keyPath == "/secure/key.pem")
        #expect(p.caPath == "/etc/klammer/ca.pem")
        #expect(p.crlPath == nil)
        #expect(p.broker == "broker.example:7701")
    }

    @Test func jsonProfile() throws {
        let p = try ClientProfile.parse(
            #"{"cert": "c.pem", "key": "k.pem", "ca": "/ca.pem", "crl": "crl.pem", "broker": "[::1]:7700"}"#, relativeTo: "/p")
        #expect(p.certificatePath == "/p/c.pem")
        #expect(p.crlPath == "/p/crl.pem")
        let address = try p.brokerAddress()
        #expect(address.host == "::1")
        #expect(address.port == 7700)
    }

    @Test func badProfilesSayWhatIsWrong() {
        #expect { try ClientProfile.parse("cert: x.pem", relativeTo: "/") } throws: { error in
            (error as? KlammerClientError)?.message.contains("key = value") == true
        }
        #expect { try ClientProfile.parse("certificate = x.pem", relativeTo: "/") } throws: { error in
            (error as? KlammerClientError)?.message.contains("unknown key \"certificate\"") == true
        }
        #expect { try ClientProfile.parse(#"{"cert": 5}"#, relativeTo: "/") } throws: { error in
            (error as? KlammerClientError)?.kind == .invalidProfile
        }
        #expect(throws: KlammerClientError.self) { try ClientProfile.parse("{ not json", relativeTo: "/") }
    }

    @Test func addressParsing() throws {
        #expect(try ClientProfile.parseAddress("127.0.0.1:7700") == ("127.0.0.1", 7700))
        #expect(try ClientProfile.parseAddress("broker.example") == ("broker.example", 7700))
        #expect(try ClientProfile.parseAddress("[2001:db8::1]") == ("2001:db8::1", 7700))
        for bad in ["host:0", "host:70000", "host:x", ":7700", "2001:db8::1", "[::1"] {
            #expect(throws: KlammerClientError.self, "\(bad)") { try ClientProfile.parseAddress(bad) }
        }
        #expect(throws: KlammerClientError.self) { try ClientProfile().brokerAddress() }
    }

    @Test func precedenceFlagsOverFileOverEnvironment() throws {
        let environment = [
            "KLAMMER_CERT": "/env/cert.pem", "KLAMMER_KEY": "/env/key.pem", "KLAMMER_CA": "/env/ca.pem",
            "KLAMMER_BROKER": "env:1", "KLAMMER_CRL": ""
        ]
        let env = ClientProfile.fromEnvironment(environment)
        #expect(env.crlPath == nil)  // empty variables count as unset
        let file = try ClientProfile.parse("key = /file/key.pem\nbroker = file:2", relativeTo: "/")
        let flags = ClientProfile(broker: "flag:3")
        let merged = flags.merged(over: file).merged(over: env)
        #expect(merged.broker == "flag:3")
        #expect(merged.keyPath == "/file/key.pem")
        #expect(merged.certificatePath == "/env/cert.pem")
        #expect(merged.caPath == "/env/ca.pem")
    }

    @Test func profileFileLoadsAndCredentialsNeedMatchingKey() throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let file = pki.directory.file("schwerin.profile")
        try "cert = ags-13004000.pem\nkey = ags-13004000.key\nca = ca.pem\nbroker = 127.0.0.1:1\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let profile = try ClientProfile.load(fromFile: file)
        let credentials = try ClientCredentials.load(profile)
        #expect(credentials.participantID?.rawValue == "ags:13004000")
        #expect(credentials.certificate == schwerin.credentials.certificate)

        var mismatched = profile
        mismatched.keyPath = rostock.keyPath
        #expect { try ClientCredentials.load(mismatched) } throws: { error in
            (error as? KlammerClientError)?.message.contains("does not belong") == true
        }
        var missing = profile
        missing.caPath = nil
        #expect { try ClientCredentials.load(missing) } throws: { error in
            (error as? KlammerClientError)?.message.contains("--ca") == true
        }
        #expect(throws: KlammerClientError.self) { try ClientProfile.load(fromFile: pki.directory.file("nope")) }
    }
}
