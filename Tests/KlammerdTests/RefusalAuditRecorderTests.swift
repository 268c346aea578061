import Foundation
import KlammerAudit
import KlammerProtocol
import KlammerServer
import Logging
import Testing
@testable import klammerd

/// The audit writer of refusals (SPEC.md §10.4): entry layout, and the bound of its queue.
@Suite struct RefusalAuditRecorderTests {
    static func temporaryLog() throws -> (AuditLog, String) {
        let dir = NSTemporaryDirectory() + "klammer-refusal-audit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try AuditLog(path: dir + "/audit.jsonl", signer: nil), dir)
    }

    @Test func refusalsBecomeRefusedEntriesWithFingerprintCodeAndReason() throws {
        let (audit, dir) = try Self.temporaryLog()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorder = RefusalAuditRecorder(audit: audit, logger: Logger(label: "test"))
        recorder.record(
            RefusalEvent(
                kind: .connection, participant: nil, fingerprint: "ab12", code: .unknownParticipant,
                reason: "not registered"))
        recorder.record(
            RefusalEvent(
                kind: .submission, participant: "ags:13004000", fingerprint: "cd34", code: .impersonation,
                reason: "not you", requestID: 7, details: ["envelope_sender": "ags:13003000"]))
        recorder.flush()
        let entries = try AuditLog.tail(path: audit.path, count: 10)
        #expect(entries.map(\.action) == ["connection.refused", "submission.refused"])
        #expect(entries.allSatisfy { $0.outcome == .refused })
        #expect(entries[0].actor == "certificate:ab12" && entries[0].subject == "")
        #expect(
            entries[0].details == ["fingerprint": "ab12", "code": "2001", "code_name": "UNKNOWN_PARTICIPANT", "reason": "not registered"])
        #expect(entries[1].actor == "participant:ags:13004000" && entries[1].subject == "ags:13004000")
        #expect(entries[1].details["request_id"] == "7" && entries[1].details["envelope_sender"] == "ags:13003000")
        #expect(entries[1].details["code"] == "2005")
        #expect(try AuditVerifier.verify(path: audit.path, brokerCertificate: nil).isIntact)
    }

    @Test func aFloodIsBoundedAndTheDropsAreCounted() throws {
        let (audit, dir) = try Self.temporaryLog()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let recorder = RefusalAuditRecorder(audit: audit, logger: Logger(label: "test"), maxPending: 4)
        let event = RefusalEvent(kind: .submission, participant: "ags:13004000", fingerprint: "ab", code: .signatureInvalid, reason: "x")
        recorder.withWriterPaused {
            for _ in 0..<200 { recorder.record(event) }
        }
        recorder.flush()
        let entries = try AuditLog.tail(path: audit.path, count: 1000)
        let written = entries.filter { $0.action == "submission.refused" }.count
        let dropped = entries.filter { $0.action == "audit.refusals_dropped" }.compactMap { Int($0.details["count"] ?? "") }.reduce(0, +)
        #expect(written == 4 && dropped == 196)  // the bound held; the drops are on record
    }
}
