import Foundation
import Testing
import KlammerCrypto
import KlammerServer

@Suite struct DevPKITests {
    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "klammer-devpki-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func generatesOnceWithPrivateKeysAndValidChains() throws {
        let data = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: data) }

        let first = try DevPKI.loadOrCreate(dataDirectory: data)
        #expect(first.participants.count == DevPKI.demoParticipants.count)
        #expect(try mode(first.caKeyPath) == 0o600)
        #expect(try mode(first.brokerKeyPath) == 0o600)
        for participant in first.participants {
            #expect(try mode(participant.keyPath) == 0o600)
            let key = try PrivateKey.load(fromFile: participant.keyPath)
            #expect(key.matches(participant.certificate.publicKey))
        }

        let trust = TrustStore(anchors: [first.ca], crls: [first.crl])
        _ = try trust.verify(first.brokerCertificate, purpose: .tlsServer)
        for participant in first.participants {
            _ = try trust.verify(participant.certificate, purpose: .tlsClient)
            #expect(participant.certificate.subjectAlternativeNames.contains("URI:urn:klammer:participant:\(participant.id)"))
        }

        // A second start reuses the same material instead of generating a new PKI.
        let second = try DevPKI.loadOrCreate(dataDirectory: data)
        #expect(second.ca.fingerprint == first.ca.fingerprint)
        #expect(second.participants.map(\.certificate.fingerprint) == first.participants.map(\.certificate.fingerprint))
        #expect(!FileManager.default.fileExists(atPath: data + "/pki.tmp-\(ProcessInfo.processInfo.processIdentifier)"))
    }
}
