import Foundation
import Glibc
import Testing
@testable import KlammerStore

/// ENOSPC / EIO through the injectable FileIO layer.
@Suite struct FaultInjectionTests {
    @Test func failedFsyncPoisonsTheWritePathButReadsContinue() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let io = FaultyFileIO()
        var store = try await KlammerStore.open(testConfig(dir, io: io))
        for i in 0..<3 { _ = try await store.append(msg("a", "\(i)")) }
        let leased = try await store.lease(recipient: "bob", consumer: ConsumerID("c"), max: 1, visibility: .seconds(60))
        io.set(datasync: EIO)
        do {
            _ = try await store.append(msg("a", "lost"))
            Issue.record("append confirmed although fdatasync failed")
        } catch let e as StoreError {
            #expect(e.code == .writePathPoisoned)
            #expect(e.message.contains("fdatasync"))
        }
        // Not retryable: even after the disk "recovers" the store refuses writes until reopened.
        io.set()
        do { _ = try await store.append(msg("a", "later")); Issue.record("append after poison succeeded") } catch let e as StoreError {
            #expect(e.code == .writePathPoisoned)
        }
        await #expect(throws: StoreError.self) {
            try await store.ack(recipient: "bob", messageID: leased[0].messageID, leaseToken: leased[0].leaseToken)
        }
        // Reads continue.
        #expect(try store.browse(recipient: "bob").count == 3)
        let d = try await store.lease(recipient: "bob", consumer: ConsumerID("c"), max: 5, visibility: .seconds(60))
        #expect(d.map(\.clientMessageID) == ["1", "2"])
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        let ids = try store.ids("bob")
        #expect(Array(ids.prefix(3)) == ["0", "1", "2"])  // nothing confirmed is lost
        #expect(!ids.contains("later"))
        _ = try await store.append(msg("a", "3"))
        await store.close()
    }

    @Test func diskFullPoisonsWithClearError() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let io = FaultyFileIO()
        var store = try await KlammerStore.open(testConfig(dir, io: io))
        _ = try await store.append(msg("a", "0"))
        io.set(write: ENOSPC)
        do { _ = try await store.append(msg("a", "1")); Issue.record("confirmed on ENOSPC") } catch let e as StoreError {
            #expect(e.code == .diskFull)
            #expect(e.message.contains("no space"))
        }
        io.set()
        do { _ = try await store.append(msg("a", "2")); Issue.record("confirmed after poison") } catch let e as StoreError {
            #expect(e.code == .diskFull)
        }
        #expect(try store.ids("bob") == ["0"])
        await store.close()
        // Reopen: the half-written record is a torn tail and gets truncated.
        store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.truncatedTailBytes > 0)
        #expect(try store.ids("bob") == ["0"])
        _ = try await store.append(msg("a", "3"))
        #expect(try store.ids("bob") == ["0", "3"])
        await store.close()
    }

    @Test func blobUploadOnFullDiskFailsCleanly() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let io = FaultyFileIO()
        let store = try await KlammerStore.open(testConfig(dir, io: io))
        let w = try store.beginBlob()
        try w.write([1, 2, 3])
        io.set(write: ENOSPC)
        do { try w.write([4, 5, 6]); Issue.record("blob write succeeded on ENOSPC") } catch let e as StoreError {
            #expect(e.code == .diskFull)
        }
        io.set()
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/blobs/tmp")) ?? []).isEmpty)
        await store.close()
    }
}
