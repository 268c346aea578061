import Foundation
import KlammerAudit
import KlammerCrypto
import KlammerTestSupport
import Synchronization
import Testing

/// The audit log: appends, checkpoints, reopen, torn tails, and `verify` naming the first bad entry for every
/// kind of tampering.
struct AuditLogTests {
    final class Fixture {
        let directory: String
        let path: String
        let signer: AuditLog.Signer

        init() throws {
            directory = NSTemporaryDirectory() + "klammer-audit-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            path = directory + "/audit.jsonl"
            signer = try Self.makeSigner()
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        static func makeSigner() throws -> AuditLog.Signer {
            let broker = try TestCA("Audit Test CA", keyKind: .p256).issue(
                "audit-test-broker", subjectAlternativeNames: [], usage: .clientAndServer)
            return try AuditLog.Signer(certificate: broker.certificate, key: broker.key)
        }

        /// Writes `count` participant entries with a checkpoint after every `interval`.
        func fill(_ count: Int, interval: Int = 1000) throws -> AuditLog {
            let log = try AuditLog(path: path, signer: signer, checkpointInterval: interval)
            for index in 1...count {
                try log.append(
                    actor: "uid:1000 pid:\(index)", action: "participant.add", subject: "ags:1300\(index)", outcome: .ok,
                    details: ["name": "Gemeinde \(index)"])
            }
            return log
        }

        var lines: [String] {
            get throws {
                try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                    .dropLast().map(String.init)
            }
        }

        func write(lines: [String]) throws {
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }

        func verify() throws -> AuditVerification {
            try AuditVerifier.verify(path: path, brokerCertificate: signer.certificate)
        }
    }

    @Test func appendsChainAndVerifyWithCheckpoints() throws {
        let fixture = try Fixture()
        let log = try fixture.fill(7, interval: 3)
        // 7 entries + a checkpoint after the 3rd and the 6th.
        #expect(log.lastSequence == 9)
        let lines = try fixture.lines
        #expect(lines.count == 9)
        let first = try AuditEntry.decode(line: Array(lines[0].utf8))
        #expect(first.seq == 1)
        #expect(first.prev == AuditEntry.genesisHash)
        #expect(first.actor == "uid:1000 pid:1")
        let second = try AuditEntry.decode(line: Array(lines[1].utf8))
        #expect(second.prev == SHA256.hash(Array(lines[0].utf8)).map { String(format: "%02x", $0) }.joined())
        #expect(try AuditEntry.decode(line: Array(lines[3].utf8)).action == AuditEntry.checkpointAction)

        let report = try fixture.verify()
        #expect(report.isIntact)
        #expect(report.entries == 9)
        #expect(report.checkpoints == 2)
        #expect(report.verifiedCheckpoints == 2)
        #expect(report.lastVerifiedCheckpoint == 8)
        #expect(report.unanchoredEntries == 1)
        // The file is private.
        let mode = try FileManager.default.attributesOfItem(atPath: fixture.path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
    }

    @Test func reopenContinuesTheChain() throws {
        let fixture = try Fixture()
        do {
            let log = try fixture.fill(3)
            #expect(try log.checkpoint() != nil)
            #expect(try log.checkpoint() == nil)  // nothing new to anchor
        }
        let reopened = try AuditLog(path: fixture.path, signer: fixture.signer)
        #expect(reopened.openReport.lastSequence == 4)
        #expect(try reopened.checkpoint() == nil)
        let entry = try reopened.append(actor: "klammerd", action: "daemon.start", outcome: .ok)
        #expect(entry.seq == 5)
        #expect(try reopened.checkpoint()?.seq == 6)
        let report = try fixture.verify()
        #expect(report.isIntact)
        #expect(report.entries == 6)
        #expect(report.unanchoredEntries == 0)
    }

    @Test func editedEntryIsNamed() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(5)
        var lines = try fixture.lines
        lines[1] = lines[1].replacingOccurrences(of: "ags:13002", with: "ags:13099")
        try fixture.write(lines: lines)
        let report = try fixture.verify()
        #expect(report.problem?.kind == .edited)
        #expect(report.problem?.sequence == 2)
        #expect(report.problem?.line == 2)
        #expect(report.lastSequence == 2)
    }

    @Test func removedEntryIsNamed() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(5)
        var lines = try fixture.lines
        lines.remove(at: 2)
        try fixture.write(lines: lines)
        let report = try fixture.verify()
        #expect(report.problem?.kind == .missing)
        #expect(report.problem?.sequence == 3)
        #expect(report.problem?.line == 3)
        #expect(report.problem?.message.contains("entry 3 is missing") == true)
    }

    @Test func reorderedEntriesAreNamed() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(5)
        var lines = try fixture.lines
        lines.swapAt(1, 2)
        try fixture.write(lines: lines)
        let report = try fixture.verify()
        #expect(report.problem?.kind == .reordered)
        #expect(report.problem?.line == 2)
        #expect(report.problem?.sequence == 3)
    }

    @Test func malformedLineIsNamed() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(4)
        var lines = try fixture.lines
        lines[2] = String(lines[2].dropLast(5))
        try fixture.write(lines: lines)
        let report = try fixture.verify()
        #expect(report.problem?.kind == .malformed)
        #expect(report.problem?.line == 3)
    }

    /// An attacker who edits an entry and recomputes every later hash keeps the chain intact, but cannot re-sign
    /// the checkpoint that covers it.
    @Test func rechainedForgeryFailsAtTheCheckpoint() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(4, interval: 4)  // entries 1-4, checkpoint 5
        var entries = try fixture.lines.map { try AuditEntry.decode(line: Array($0.utf8)) }
        entries[1].subject = "ags:13099999"
        var prev = AuditEntry.genesisHash
        var forged: [String] = []
        for var entry in entries {
            entry.prev = prev
            let line = try entry.encodedLine()
            prev = SHA256.hash(line).map { String(format: "%02x", $0) }.joined()
            forged.append(String(decoding: line, as: UTF8.self))
        }
        try fixture.write(lines: forged)
        let report = try fixture.verify()
        #expect(report.problem?.kind == .badCheckpoint)
        #expect(report.problem?.sequence == 5)
        // Without the broker certificate only the chain is checked, and the forgery is not visible.
        #expect(try AuditVerifier.verify(path: fixture.path, brokerCertificate: nil).isIntact)
        // A checkpoint signed by another key is refused as well.
        let other = try Fixture.makeSigner()
        #expect(try AuditVerifier.verify(path: fixture.path, brokerCertificate: other.certificate).problem?.kind == .badCheckpoint)
    }

    @Test func tornTailIsCutOffAndKept() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(3)
        let intact = try Data(contentsOf: URL(fileURLWithPath: fixture.path))
        // An interrupted write: half a line, then zeros the file system had allocated.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: fixture.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"action":"participant.sus"#.utf8) + Data(repeating: 0, count: 100))
        try handle.close()
        #expect(try fixture.verify().tornTailBytes == 126)

        let log = try AuditLog(path: fixture.path, signer: fixture.signer)
        #expect(log.openReport.truncatedTailBytes == 126)
        #expect(log.openReport.lastSequence == 3)
        let aside = try #require(log.openReport.tornTailFile)
        #expect(FileManager.default.contents(atPath: aside)?.count == 126)
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.path)) == intact)
        #expect(try log.append(actor: "klammerd", action: "daemon.start", outcome: .ok).seq == 4)
        #expect(try fixture.verify().isIntact)
    }

    @Test func tornFirstLineLeavesAnEmptyLog() throws {
        let fixture = try Fixture()
        try Data(#"{"seq":1,"ti"#.utf8).write(to: URL(fileURLWithPath: fixture.path))
        let log = try AuditLog(path: fixture.path, signer: nil)
        #expect(log.openReport.truncatedTailBytes == 12)
        #expect(try log.append(actor: "a", action: "b", outcome: .ok).prev == AuditEntry.genesisHash)
    }

    @Test func damagedLastEntryStopsTheOpen() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(2)
        var lines = try fixture.lines
        lines[1] = "garbage"
        try fixture.write(lines: lines)
        #expect(throws: AuditError.self) { try AuditLog(path: fixture.path, signer: nil) }
    }

    @Test func tailReturnsTheNewestEntriesOldestFirst() throws {
        let fixture = try Fixture()
        _ = try fixture.fill(25)
        let tail = try AuditLog.tail(path: fixture.path, count: 3)
        #expect(tail.map(\.seq) == [23, 24, 25])
        #expect(try AuditLog.tail(path: fixture.path, count: 100).count == 25)
        #expect(try AuditLog.tail(path: fixture.path, count: 0).isEmpty)
    }

    @Test func concurrentAppendsKeepOneChain() throws {
        let fixture = try Fixture()
        let log = try AuditLog(path: fixture.path, signer: fixture.signer, checkpointInterval: 25)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<20 {
                do {
                    try log.append(actor: "uid:1 pid:\(worker)", action: "participant.show", subject: "ags:\(index)", outcome: .ok)
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        // 160 entries and a checkpoint after every 25.
        #expect(log.lastSequence == 166)
        let report = try fixture.verify()
        #expect(report.isIntact)
        #expect(report.verifiedCheckpoints == 6)
    }

    @Test func limitsAreEnforced() throws {
        let fixture = try Fixture()
        let log = try AuditLog(path: fixture.path, signer: nil)
        #expect(throws: AuditError.self) {
            try log.append(actor: String(repeating: "a", count: 600), action: "x", outcome: .ok)
        }
        // Long details are shortened, not refused.
        let entry = try log.append(actor: "a", action: "x", outcome: .failed, details: ["error": String(repeating: "e", count: 10_000)])
        #expect(entry.details["error"]!.utf8.count < 4200)
    }
}
