import Foundation
import Testing
import KlammerBroker
import KlammerCrypto
import KlammerTestSupport
import Synchronization

/// One CA for all registry tests; leaf certificates are cheap.
private let testCA = try! CertificateAuthority.create(commonName: "Registry Test CA")

private func makeCertificate(_ name: String) throws -> Certificate {
    let key = try PrivateKey.generate(.p256)
    return try testCA.issue(commonName: name, publicKey: key.publicKey, usage: .client)
}

@Suite struct ParticipantRegistryTests {
    @Test func participantIDSyntax() {
        #expect(ParticipantIDSyntax.isValid("ags:13004000"))
        #expect(ParticipantIDSyntax.isValid("leitweg-id:991-12345-67"))
        #expect(!ParticipantIDSyntax.isValid("13004000"))
        #expect(!ParticipantIDSyntax.isValid("AGS:13004000"))
        #expect(!ParticipantIDSyntax.isValid("ags:"))
        #expect(!ParticipantIDSyntax.isValid("ags:130 04000"))
        #expect(!ParticipantIDSyntax.isValid("ags:" + String(repeating: "1", count: 65)))
        #expect(!ParticipantIDSyntax.isValid("ags:ü"))
    }

    @Test func routingPolicy() throws {
        let policy = try RoutingPolicy(allow: ["ags:13*", "ags:01001000"])
        #expect(policy.permits("ags:13004000"))
        #expect(policy.permits("ags:01001000"))
        #expect(!policy.permits("ags:01002000"))
        #expect(RoutingPolicy.allowAll.permits("anything:x"))
        #expect(throws: BrokerError.self) { try RoutingPolicy(allow: ["not a pattern"]) }
    }

    @Test func addLookUpAndSurviveReopen() throws {
        let dir = try TemporaryDirectory()
        let certificate = try makeCertificate("Schwerin")
        do {
            let registry = try ParticipantRegistry(path: dir.file("registry.json"))
            try registry.add(id: "ags:13004000", name: "Landeshauptstadt Schwerin", certificate: certificate)
            #expect(registry.participant(forFingerprint: certificate.fingerprint)?.id == "ags:13004000")
        }
        let reopened = try ParticipantRegistry(path: dir.file("registry.json"))
        let participant = try #require(reopened.participant(forFingerprint: certificate.fingerprint))
        #expect(participant.name == "Landeshauptstadt Schwerin")
        #expect(participant.status == .active)
        #expect(reopened.revision == 1)
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("registry.json"))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func refusesDuplicatesAndSharedCertificates() throws {
        let dir = try TemporaryDirectory()
        let registry = try ParticipantRegistry(path: dir.file("registry.json"))
        let certificate = try makeCertificate("A")
        try registry.add(id: "ags:1", name: "A", certificate: certificate)
        #expect(throws: BrokerError.self) { try registry.add(id: "ags:1", name: "A again", certificate: try makeCertificate("A2")) }
        do {
            try registry.add(id: "ags:2", name: "B", certificate: certificate)
            Issue.record("a certificate must identify exactly one participant")
        } catch let error as BrokerError {
            #expect(error.code == .certificateInUse)
        }
    }

    @Test func statusTransitionsAndRevocationIsFinal() throws {
        let dir = try TemporaryDirectory()
        let registry = try ParticipantRegistry(path: dir.file("registry.json"))
        try registry.add(id: "ags:1", name: "A", certificate: try makeCertificate("A"))
        try registry.setStatus(.suspended, of: "ags:1")
        #expect(registry.participant(id: "ags:1")?.isActive == false)
        try registry.setStatus(.active, of: "ags:1")
        try registry.setStatus(.revoked, of: "ags:1")
        #expect(throws: BrokerError.self) { try registry.setStatus(.active, of: "ags:1") }
        let reopened = try ParticipantRegistry(path: dir.file("registry.json"))
        #expect(reopened.participant(id: "ags:1")?.status == .revoked)
    }

    @Test func certificateRolloverAndObservers() throws {
        let dir = try TemporaryDirectory()
        let registry = try ParticipantRegistry(path: dir.file("registry.json"))
        let old = try makeCertificate("old")
        let new = try makeCertificate("new")
        let seen = Mutex<[ParticipantRegistry.Change]>([])
        registry.addObserver { change in seen.withLock { $0.append(change) } }
        try registry.add(id: "ags:1", name: "A", certificate: old)
        try registry.addCertificate(new, to: "ags:1")
        #expect(registry.participant(forFingerprint: old.fingerprint)?.id == "ags:1")
        #expect(registry.participant(forFingerprint: new.fingerprint)?.id == "ags:1")
        try registry.removeCertificate(fingerprint: old.fingerprint, from: "ags:1")
        #expect(registry.participant(forFingerprint: old.fingerprint) == nil)
        #expect(registry.participant(forFingerprint: new.fingerprint)?.id == "ags:1")
        try registry.remove(id: "ags:1")
        #expect(registry.participant(forFingerprint: new.fingerprint) == nil)
        let kinds = seen.withLock { $0 }.map { change -> String in
            switch change {
            case .added: "added"
            case .updated: "updated"
            case .removed: "removed"
            }
        }
        #expect(kinds == ["added", "updated", "updated", "removed"])
    }

    @Test func failedWriteChangesNothing() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("sub/registry.json")
        try FileManager.default.createDirectory(atPath: dir.file("sub"), withIntermediateDirectories: true)
        let registry = try ParticipantRegistry(path: path)
        try registry.add(id: "ags:1", name: "A", certificate: try makeCertificate("A"))
        // Make the directory read-only: the next write must fail and leave memory as it was.
        // (Root ignores directory permissions, so replace the directory by a file instead.)
        try FileManager.default.removeItem(atPath: dir.file("sub"))
        _ = FileManager.default.createFile(atPath: dir.file("sub"), contents: Data())
        #expect(throws: BrokerError.self) { try registry.setStatus(.suspended, of: "ags:1") }
        #expect(registry.participant(id: "ags:1")?.status == .active)
        #expect(registry.revision == 1)
    }

    @Test func corruptFileIsAnErrorNotAnEmptyRegistry() throws {
        let dir = try TemporaryDirectory()
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: dir.file("registry.json")))
        do {
            _ = try ParticipantRegistry(path: dir.file("registry.json"))
            Issue.record("a damaged registry must not open")
        } catch let error as BrokerError {
            #expect(error.code == .corruptRegistry)
        }
    }
}
