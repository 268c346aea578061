import Foundation
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerTestSupport
import NIOCore
import Testing

/// Open uploads are bounded per connection against a real `klammerd --dev` (issue 14, item 7). Each open upload used
/// to pin its first chunk (up to `maxInlinePayload`, 256 KiB, in memory) or a blob part file descriptor, with no
/// limit on how many one connection opened, so 20,000 SEND_BEGINs with a chunk each would have held ~5 GiB.
/// The broker's own RSS and descriptors are measured in its process (/proc/PID), never the test's.
@Suite(.serialized, .timeLimit(.minutes(5))) struct UploadBoundProcessTests {
    static func descriptors(of pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }

    @Test func twentyThousandUploadsOnOneConnectionKeepBrokerMemoryBounded() async throws {
        try await RefusalProcessTests.withDaemon { s in
            let schwerin = try s.identity(s.schwerin), rostock = try s.identity(s.rostock)
            let pid = s.daemon.process.processIdentifier
            let client = try await TestFrameClient.connect(port: s.daemon.port, identity: schwerin, trust: s.trust)
            defer { client.close() }
            let welcome = try #require(try await client.hello())
            let chunkSize = Int(welcome.maxChunkSize)
            let chunk = ByteBuffer(bytes: [UInt8](repeating: 0x5A, count: chunkSize))
            var window = Int(welcome.initialWindowSize)
            let baseRSS = try #require(ProcessMemory.resident(of: pid))
            let baseFDs = try #require(Self.descriptors(of: pid))
            // Growth allowed: the default 256 open uploads × one 256 KiB chunk = 64 MiB, plus allocator slack. Without
            // a bound the run stops as soon as the broker grows past `abortGrowth` (and fails), so it never takes GBs.
            let allowedGrowth = 160 << 20
            let abortGrowth = 320 << 20
            let total = 20_000, batch = 250
            var ready = 0, refused = 0, otherErrors: [Frame.ErrorFrame] = [], maxRSS = baseRSS, maxFDs = baseFDs
            var chunksToSend: [UInt32] = []
            var next: UInt32 = 1
            outer: while Int(next) <= total {
                let first = next
                let last = min(UInt32(total), first + UInt32(batch) - 1)
                for id in first...last {
                    let envelope = try Envelope(
                        clientMessageID: "bound-\(id)", sender: ParticipantID(schwerin.id),
                        recipients: [ParticipantID(rostock.id)], subject: "x", contentType: "application/pdf",
                        createdAtMillis: UInt64(Date().timeIntervalSince1970 * 1000), payloadLength: UInt64(4 * chunkSize),
                        payloadDigest: SHA256Digest(bytes: SHA256.hash([UInt8(truncatingIfNeeded: id)])))
                    try await client.send(.sendBegin(.init(requestID: id, signatureForm: .single, envelope: envelope)))
                }
                next = last + 1
                var answered = 0
                while answered < Int(last - first + 1) || !chunksToSend.isEmpty {
                    // Send queued chunks while the window allows; otherwise read (READY, ERROR, WINDOW_UPDATE).
                    if let id = chunksToSend.first, window >= chunkSize {
                        chunksToSend.removeFirst()
                        window -= chunkSize
                        try await client.send(.chunk(.init(requestID: id, offset: 0, data: chunk)))
                        continue
                    }
                    guard let frame = await client.next(timeout: .seconds(20)) else {
                        Issue.record("no answer from the broker after \(ready) READY and \(refused) refusals")
                        break outer
                    }
                    switch frame {
                    case .ready(let r):
                        ready += 1
                        answered += 1
                        chunksToSend.append(r.requestID)
                    case .error(let e) where e.code == .quotaExceeded:
                        refused += 1
                        answered += 1
                    case .error(let e):
                        otherErrors.append(e)
                        if e.requestID == 0 { break outer }
                        answered += 1
                    case .windowUpdate(let w):
                        window += Int(w.increment)
                    default:
                        break
                    }
                }
                if let rss = ProcessMemory.resident(of: pid) { maxRSS = max(maxRSS, rss) }
                if let fds = Self.descriptors(of: pid) { maxFDs = max(maxFDs, fds) }
                if maxRSS - baseRSS > abortGrowth { break }
            }
            print(
                "open uploads on one connection: \(ready) READY, \(refused) QUOTA_EXCEEDED of \(Int(next) - 1) SEND_BEGINs; broker RSS \(baseRSS >> 20) → max \(maxRSS >> 20) MiB, descriptors \(baseFDs) → max \(maxFDs)"
            )
            #expect(otherErrors.isEmpty, "\(otherErrors.prefix(3))")
            #expect(Int(next) - 1 == total, "stopped early: the broker grew by \((maxRSS - baseRSS) >> 20) MiB")
            #expect(ready == 256, "the default limits.max_open_uploads_per_connection")
            #expect(refused == total - 256)
            #expect(maxRSS - baseRSS < allowedGrowth, "broker RSS grew by \((maxRSS - baseRSS) >> 20) MiB")
            #expect(maxFDs - baseFDs < 64, "broker descriptors grew from \(baseFDs) to \(maxFDs)")
            // The connection is still usable.
            try await client.send(.ping(.init(data: 42)))
            var pong = false
            while let frame = await client.next(timeout: .seconds(10)) {
                if case .pong(let p) = frame, p.data == 42 { pong = true; break }
            }
            #expect(pong)
        }
    }
}
