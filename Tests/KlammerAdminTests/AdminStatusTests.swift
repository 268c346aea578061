import Foundation
@testable import KlammerAdmin
import KlammerAudit
import KlammerBroker
import KlammerCrypto
import KlammerStore
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `GET /v1/status` with a daemon probe: the figures come from the probe and the registry, and the earliest
/// expiring certificate ignores revoked participants.
struct AdminStatusTests {
    @Test func probeFiguresAndEarliestCertificate() throws {
        let directory = NSTemporaryDirectory() + "klammer-status-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(repeating: 7, count: 10_000).write(to: URL(fileURLWithPath: directory + "/store/segment-1"))
        let ca = try CertificateAuthority.create(commonName: "Status Test CA", keyKind: .p256)
        let brokerKey = try PrivateKey.generate(.p256)
        let broker = try ca.issue(
            commonName: "broker", publicKey: brokerKey.publicKey, usage: .clientAndServer, notAfter: .now + 30 * 86400 + 3600)
        let registry = try ParticipantRegistry(path: directory + "/registry.json")
        func add(_ id: String, days: Double) throws {
            let key = try PrivateKey.generate(.p256)
            let certificate = try ca.issue(
                commonName: id, subjectAlternativeNames: ["URI:urn:klammer:participant:\(id)"], publicKey: key.publicKey, usage: .client,
                notAfter: .now + days * 86400 + 3600)
            _ = try registry.add(id: id, name: id, certificate: certificate)
        }
        try add("ags:1", days: 200)
        try add("ags:2", days: 20)
        try add("ags:3", days: 5)
        _ = try registry.setStatus(.revoked, of: "ags:3")  // expires first, but revoked: not a renewal to plan
        let audit = try AuditLog(
            path: directory + "/audit.jsonl", signer: try .init(certificate: broker, key: brokerKey), checkpointInterval: 1000)
        let service = AdminService(
            registry: registry, audit: audit, brokerID: "broker:test", version: "1", mode: "test", trustStore: nil,
            brokerCertificate: broker,
            probe: AdminDaemonProbe(
                connections: { (3, ["ags:1": 2]) }, certificates: { (broker, [ca.certificate]) },
                dataDirectory: directory, storeDirectory: directory + "/store"))
        let response = service.handle(
            method: "GET", uri: "/v1/status", body: [], peer: PeerCredentials(pid: 1, uid: UInt32(getuid()), gid: 0))
        #expect(response.status == 200)
        let status = try AdminJSON.decoder().decode(AdminStatusView.self, from: Data(response.body))
        #expect(status.connections == .init(total: 3, byParticipant: ["ags:1": 2]))
        #expect(status.queues == nil)  // no broker running: left out rather than zeros
        let certificates = try #require(status.certificates)
        #expect(certificates.broker.daysLeft == 30 && certificates.broker.fingerprint == broker.fingerprint.hex)
        #expect(certificates.ca.map(\.fingerprint) == [ca.certificate.fingerprint.hex])
        #expect(certificates.earliestParticipant?.participant == "ags:2" && certificates.earliestParticipant?.daysLeft == 20)
        let disk = try #require(status.disk)
        #expect(disk.storeFiles == 1 && disk.storeBytes >= 8192 && disk.storeBytesComplete)
        #expect(disk.filesystemTotalBytes > 0)
        // snake_case on the wire, as SPEC.md §11.4 documents.
        let text = String(decoding: response.body, as: UTF8.self)
        for key in ["\"by_participant\"", "\"earliest_participant\"", "\"days_left\"", "\"filesystem_available_bytes\"", "\"store_bytes\""]
        {
            #expect(text.contains(key), "missing \(key)")
        }
    }

    @Test func queueSummaryTakesTheDeepestQueues() {
        // Totals are i + i % 2 (+ 4 dead letters for ags:3): ags:13 and ags:14 tie at 14 (ties by id), ags:0 is
        // empty; ags:3 (8 entries, half of them dead) is among the ten deepest, ags:1 and ags:2 (2 each) are not.
        let queues = (0..<15).map {
            AdminQueueView(recipient: "ags:\($0)", ready: $0, inFlight: $0 % 2, delayed: 0, deadLettered: $0 == 3 ? 4 : 0)
        }
        let summary = AdminService.queueSummary(queues)
        #expect(summary.queues == 14)
        #expect(summary.ready == (0..<15).reduce(0, +))
        #expect(summary.inFlight == 7 && summary.deadLettered == 4 && summary.delayed == 0)
        #expect(summary.top.count == AdminStatusView.topQueueCount)
        #expect(summary.top.prefix(2).map(\.recipient) == ["ags:13", "ags:14"])
        #expect(summary.top.contains { $0.recipient == "ags:3" })
        #expect(!summary.top.contains { $0.recipient == "ags:1" || $0.recipient == "ags:2" || $0.recipient == "ags:0" })
        #expect(summary.top.map(\.total) == summary.top.map(\.total).sorted(by: >))
        #expect(AdminService.queueSummary([]).top.isEmpty)
    }
}
