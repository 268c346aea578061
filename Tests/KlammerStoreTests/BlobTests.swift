import Foundation
import Testing
@testable import KlammerStore

@Suite struct BlobTests {
    @Test func largeDocumentIsStreamedChecksummedAndDeletedAfterAck() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        let w = try store.beginBlob()
        var expected: UInt32 = 0
        var all: [UInt8] = []
        for i in 0..<40 {
            let chunk = [UInt8](repeating: UInt8(i), count: 64 << 10)
            expected = chunk.withUnsafeBytes { CRC32C.update(expected, $0) }
            all += chunk
            try w.write(chunk)
        }
        let ref = try w.finish(expectedCRC32C: expected)
        #expect(ref.size == 40 * (64 << 10))
        var m = msg("a", "doc")
        m.payload = .blob(ref)
        _ = try await store.append(m)
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        let d = try await store.lease(recipient: "bob", consumer: ConsumerID("c"), max: 1, visibility: .seconds(60))
        #expect(d.first?.payload == .blob(ref))
        let r = try store.openBlob(ref)
        var got: [UInt8] = []
        while let c = try r.next(maxLength: 100_000) { got += c }
        #expect(got == all)
        #expect(try store.scrub().blobs == 1)
        try await store.ack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
        #expect(
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/blobs")) ?? []).filter { $0.hasSuffix(".blob") }.isEmpty)
        await store.close()
    }

    @Test func partialUploadIsNeverDeliveredAndIsCleanedUp() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        var store = try await KlammerStore.open(testConfig(dir, clock: clock))
        let w = try store.beginBlob()
        try w.write([1, 2, 3])
        // Crash simulation: the writer is never finished; a message cannot reference an unfinished blob.
        var m = msg("a", "doc")
        m.payload = .blob(BlobReference(id: w.id, size: 3, crc32c: 0))
        await #expect(throws: StoreError.self) { try await store.append(m) }
        await store.close()
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/blobs/tmp")) ?? []).count == 1)
        store = try await KlammerStore.open(testConfig(dir, clock: clock))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/blobs/tmp")) ?? []).isEmpty)
        #expect(try store.ids("bob").isEmpty)
        await store.close()
        withExtendedLifetime(w) {}
    }

    @Test func tooLargeDocumentIsRejectedAndCorruptBlobDetected() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var c = testConfig(dir)
        c.maxBlobSize = 1000
        let store = try await KlammerStore.open(c)
        let w = try store.beginBlob()
        try w.write([UInt8](repeating: 1, count: 900))
        do { try w.write([UInt8](repeating: 1, count: 200)); Issue.record("over limit accepted") } catch let e as StoreError {
            #expect(e.code == .tooLarge)
        }
        let w2 = try store.beginBlob()
        try w2.write([UInt8](repeating: 7, count: 500))
        let ref = try w2.finish()
        // Flip a content byte on disk.
        let path = dir.path + "/blobs/" + BlobFormat.name(ref.id) + ".blob"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[10] ^= 1
        try data.write(to: URL(fileURLWithPath: path))
        let r = try store.openBlob(ref)
        #expect(throws: StoreError.self) { while try r.next() != nil {} }
        #expect(try store.scrub().problems.count == 1)
        await store.close()
    }
}
