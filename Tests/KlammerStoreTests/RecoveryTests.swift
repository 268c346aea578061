import Foundation
import Glibc
import Testing
@testable import KlammerStore

/// Corruption and torn-write handling on open.
@Suite struct RecoveryTests {
    func fill(_ dir: TempDir, count: Int = 120) async throws -> [UInt64] {
        let store = try await KlammerStore.open(testConfig(dir))
        var ids: [UInt64] = []
        for i in 0..<count {
            if case .stored(let id, _) = try await store.append(msg("a", "\(i)", payload: String(repeating: "d", count: 300))) {
                ids.append(id)
            }
        }
        await store.close()
        return ids
    }

    func patch(_ path: String, at offset: Int, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        close(fd)
    }

    func size(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    @Test func tornTailIsTruncatedBeforeAppending() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        _ = try await fill(dir, count: 5)
        let last = dir.path + "/log/" + segmentFiles(dir).last!
        let good = size(last)
        // Half a record header plus garbage, as left by a crash during write.
        patch(last, at: good, [0x4B, 0x52, 0x43, 0x31, 0xFF, 0x00, 0x01, 0x02, 0x03])
        var store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.truncatedTailBytes == 9)
        #expect(store.recoveryReport.corruptions.isEmpty)
        #expect(size(last) == good)
        _ = try await store.append(msg("a", "after"))
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        #expect(try store.ids("bob") == ["0", "1", "2", "3", "4", "after"])
        #expect(try store.scrub().isClean)
        await store.close()
    }

    @Test func flippedBitInTheMiddleIsQuarantinedAndTheRestStaysAvailable() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        _ = try await fill(dir)
        let segs = segmentFiles(dir)
        #expect(segs.count >= 3)
        let victim = dir.path + "/log/" + segs[1]
        // Flip one bit inside the second record's payload.
        let data = try Data(contentsOf: URL(fileURLWithPath: victim))
        let firstLen = Int(data[52]) | Int(data[53]) << 8
        let secondRecord = 48 + 29 + firstLen
        let offset = secondRecord + 29 + 40
        patch(victim, at: offset, [data[offset] ^ 0x04])
        let store = try await KlammerStore.open(testConfig(dir))
        let report = store.recoveryReport
        #expect(report.corruptions.count == 1)
        #expect(report.corruptions.first?.file == victim)
        #expect(report.corruptions.first?.offset == UInt64(secondRecord))
        let q = report.corruptions.first?.quarantinedAs ?? ""
        #expect(FileManager.default.fileExists(atPath: q))
        // Exactly one message lost; the rest of that segment and all others are available and in order.
        let ids = try store.ids("bob")
        #expect(ids.count == 119)
        #expect(ids == ids.sorted { Int($0)! < Int($1)! })
        let scrub = try store.scrub()
        #expect(scrub.problems.count == 1)
        #expect(scrub.problems.first?.offset == UInt64(secondRecord))
        await store.close()
        // The original file is never deleted.
        #expect(FileManager.default.fileExists(atPath: victim))
    }

    @Test func zeroFilledSegmentIsQuarantinedWhole() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        _ = try await fill(dir)
        let segs = segmentFiles(dir)
        let victim = dir.path + "/log/" + segs[1]
        let n = size(victim)
        patch(victim, at: 0, [UInt8](repeating: 0, count: n))
        var store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.corruptions.count == 1)
        #expect(store.recoveryReport.corruptions.first?.offset == 0)
        #expect(quarantineFiles(dir).contains { $0.hasPrefix(segs[1]) })
        let remaining = try store.ids("bob")
        #expect(remaining.count > 0 && remaining.count < 120)
        #expect(remaining.first == "0" && remaining.last == "119")
        // New appends get fresh ids, never reused ones.
        guard case .stored(let newID, _) = try await store.append(msg("a", "new")) else { return }
        #expect(newID > 120)
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.corruptions.isEmpty)
        #expect(try store.ids("bob").last == "new")
        await store.close()
    }

    @Test func crashBetweenCreatingAndFillingASegmentDoesNotStopStartup() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        _ = try await fill(dir, count: 3)
        // A new segment file that got created but never received its header.
        _ = FileManager.default.createFile(atPath: dir.path + "/log/seg-00000000000000000100.klog", contents: Data([0x4B, 0x4C]))
        var store = try await KlammerStore.open(testConfig(dir))
        #expect(try store.ids("bob") == ["0", "1", "2"])
        #expect(store.recoveryReport.corruptions.isEmpty)
        #expect(store.recoveryReport.incompleteSegments.count == 1)
        #expect(quarantineFiles(dir).count == 1)
        _ = try await store.append(msg("a", "3"))
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        #expect(try store.ids("bob") == ["0", "1", "2", "3"])
        await store.close()
    }

    @Test func staleRecordFromAnotherSegmentIsRejected() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        _ = try await fill(dir)
        let segs = segmentFiles(dir)
        // Copy a valid record from segment 0 over the tail of the last segment (as a reused/preallocated file would).
        let src = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/log/" + segs[0]))
        let len = Int(src[52]) | Int(src[53]) << 8
        let record = Array(src[48..<(48 + 29 + len)])
        let last = dir.path + "/log/" + segs.last!
        let before = size(last)
        patch(last, at: before, record)
        let store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.truncatedTailBytes == UInt64(record.count))
        #expect(try store.ids("bob").count == 120)
        await store.close()
    }

    @Test func restartWithoutAnyIndexRebuildsFromTheLog() async throws {
        // Indexes are caches: the store keeps none on disk; everything is rebuilt from the log.
        let dir = TempDir(); defer { dir.cleanup() }
        _ = try await fill(dir, count: 50)
        let extra = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/log")) ?? []).filter { !$0.hasSuffix(".klog") }
        #expect(extra.isEmpty)
        let store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.messages == 50)
        #expect(try store.ids("bob").count == 50)
        await store.close()
    }
}
