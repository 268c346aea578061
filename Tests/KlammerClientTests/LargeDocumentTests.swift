import Foundation
import KlammerCrypto
import KlammerProtocol
import KlammerTestSupport
import Synchronization
import Testing
@testable import KlammerClient

/// Very large documents against the real `klammerd --dev` process (SPEC.md §4.8, issue #5): streaming with flat
/// broker memory, upload and download resume on a new connection, the size limit, abandoned partial uploads.
@Suite(.serialized) struct LargeDocumentTests {
    static let schwerin = "ags:13004000"
    static let rostock = "ags:13003000"
    static func id(_ s: String) -> ParticipantID { try! ParticipantID(s) }

    /// Writes `size` bytes quickly without sparse regions: one pseudo-random 1 MiB block, repeated, each copy
    /// stamped with its block number (so no two MiB are equal and a misplaced chunk changes the digest).
    static func writeDocument(_ path: String, size: Int) throws -> SHA256Digest {
        var generator = UInt64(0x9E37_79B9_7F4A_7C15)
        var block = [UInt8](repeating: 0, count: 1 << 20)
        for i in block.indices {
            generator = generator &* 6364136223846793005 &+ 1442695040888963407
            block[i] = UInt8(truncatingIfNeeded: generator >> 33)
        }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw KlammerClientError(.fileError, "cannot create \(path)")
        }
        defer { try? handle.close() }
        let hasher = SHA256.Hasher()
        var written = 0
        var counter: UInt64 = 0
        while written < size {
            withUnsafeBytes(of: counter.bigEndian) { block.replaceSubrange(0..<8, with: $0) }
            let piece = block.prefix(size - written)
            hasher.update(piece)
            try handle.write(contentsOf: Data(piece))
            written += piece.count
            counter += 1
        }
        return try SHA256Digest(bytes: hasher.finalize())
    }

    /// SHA-256 of a file, streamed.
    static func digest(ofFile path: String) throws -> SHA256Digest {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw KlammerClientError(.fileError, "cannot read \(path)") }
        defer { try? handle.close() }
        let hasher = SHA256.Hasher()
        while let piece = try handle.read(upToCount: 4 << 20), !piece.isEmpty { hasher.update(piece) }
        return try SHA256Digest(bytes: hasher.finalize())
    }

    static func files(in directory: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
    }

    static func mib(_ bytes: UInt64) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    /// Document size of the memory test: 1 GiB by default; `KLAMMER_LARGE_DOC_BYTES` overrides it.
    static var largeDocumentBytes: Int {
        ProcessInfo.processInfo.environment["KLAMMER_LARGE_DOC_BYTES"].flatMap { Int($0) } ?? (1 << 30)
    }

    /// Drops the connection (as a network failure would) once `fraction` of `total` went through; once only.
    final class Cutter: Sendable {
        private let fired = Mutex(false)
        func cut(_ client: KlammerClient, done: UInt64, total: UInt64, fraction: Double) {
            guard Double(done) >= Double(total) * fraction,
                fired.withLock({ f in
                    defer { f = true }; return !f
                })
            else { return }
            Task { await client.failAll(KlammerClientError(.connectionFailed, "test: connection cut at \(done) of \(total) bytes")) }
        }
    }

    // MARK: (a) 1 GiB end to end with flat broker memory

    @Test func gibDocumentStreamsEndToEndWithFlatBrokerMemory() async throws {
        let base = try TempDir()
        let size = Self.largeDocumentBytes
        let daemon = try Daemon(dataDirectory: base.file("dev"), lifetimeSeconds: 900)
        let document = base.file("akte.bin")
        let clock = ContinuousClock()
        let generated = clock.now
        let expected = try Self.writeDocument(document, size: size)
        print("large document: generated \(Self.mib(UInt64(size))) in \(clock.now - generated)")
        let before = try #require(daemon.memory())

        let started = clock.now
        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let prepared = try PreparedMessage.prepare(
            credentials: sender.credentials, recipients: [Self.id(Self.rostock)],
            subject: "Bauantrag", payload: .file(document))
        let signed = clock.now
        let accepted = try await sender.send(prepared)
        let uploaded = clock.now
        await sender.close()

        let spool = base.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        var received: ReceivedMessage?
        for try await event in try await recipient.fetch(max: 1, options: ReceiveOptions(payloadStorage: .directory(spool))) {
            if case .message(let m) = event { received = m }
        }
        let downloaded = clock.now
        let message = try #require(received)
        #expect(message.messageID == accepted.receipt.messageID)
        #expect(message.isVerified, "\(String(describing: message.verificationError))")
        _ = try await recipient.acknowledge(message)
        await recipient.close()
        let after = try #require(daemon.memory())

        guard case .file(let path) = message.payload else { Issue.record("payload not in a file"); return }
        #expect(try Self.digest(ofFile: path) == expected)
        let growth = after.peak > before.rss ? after.peak - before.rss : 0
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let total = seconds(downloaded - started)
        print(
            "large document: \(Self.mib(UInt64(size))) end to end in \(String(format: "%.1f", total)) s "
                + "(hash+sign \(String(format: "%.1f", seconds(signed - started))) s, "
                + "upload \(String(format: "%.1f", seconds(uploaded - signed))) s = \(String(format: "%.0f", Double(size) / 1_048_576 / seconds(uploaded - signed))) MiB/s, "
                + "download+verify \(String(format: "%.1f", seconds(downloaded - uploaded))) s = \(String(format: "%.0f", Double(size) / 1_048_576 / seconds(downloaded - uploaded))) MiB/s); "
                + "broker VmRSS before \(Self.mib(before.rss)), VmHWM after \(Self.mib(after.peak)), growth \(Self.mib(growth)) (limit 64 MiB)"
        )
        // (The test process's own RSS is not reported: in the shared test process it says what earlier tests left.)
        #expect(growth < 64 << 20, "broker memory grew by \(Self.mib(growth)) for a \(Self.mib(UInt64(size))) document")
    }

    // MARK: (b) upload cut at 50 % and resumed on a new connection

    @Test func uploadCutAtHalfResumesOnANewConnection() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("akte.bin")
        let size = 128 << 20
        let expected = try Self.writeDocument(document, size: size)
        let first = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let prepared = try PreparedMessage.prepare(
            credentials: first.credentials, recipients: [Self.id(Self.rostock)], payload: .file(document))
        let cutter = Cutter()
        await #expect(throws: KlammerClientError.self) {
            _ = try await first.send(prepared, progress: { sent, total in cutter.cut(first, done: sent, total: total, fraction: 0.5) })
        }

        // A new connection, the same signed message: the broker answers READY with what it stored (first progress
        // report), which must be most of the first half, not 0.
        let retry = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let progress = ProgressRecorder()
        let receipt = try await retry.send(prepared, progress: { sent, total in progress.record(sent, total) })
        await retry.close()
        let readyOffset = try #require(progress.first?.0)
        print(
            "upload resume: READY offset \(readyOffset) of \(size) bytes (\(String(format: "%.1f", Double(readyOffset) * 100 / Double(size))) %)"
        )
        #expect(Double(readyOffset) >= 0.4 * Double(size), "the broker restarted the upload at \(readyOffset) instead of resuming")
        #expect(receipt.receipt.envelopeDigest == prepared.envelopeDigest)

        let spool = base.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let messages = try await EndToEndTests.fetchAll(recipient, options: ReceiveOptions(payloadStorage: .directory(spool)))
        await recipient.close()
        try #require(messages.count == 1)
        #expect(messages[0].isVerified)
        guard case .file(let path) = messages[0].payload else { Issue.record("payload not in a file"); return }
        #expect(try Self.digest(ofFile: path) == expected)
    }

    // MARK: (c) download cut in the middle and resumed

    @Test func downloadCutInTheMiddleResumesFromThePartFile() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("akte.bin")
        let size = 64 << 20
        let expected = try Self.writeDocument(document, size: size)
        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let accepted = try await sender.send(to: [Self.id(Self.rostock)], payload: .file(document))
        await sender.close()

        let spool = base.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let first = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let cutter = Cutter()
        let options = ReceiveOptions(
            payloadStorage: .directory(spool),
            progress: { _, received, total in
                cutter.cut(first, done: received, total: total, fraction: 0.5)
            })
        await #expect(throws: (any Error).self) {
            for try await _ in try await first.fetch(max: 1, options: options) {}
        }
        let point = try #require(ReceiveOptions.resumePoint(in: spool), "no part file left by the cut download")
        #expect(point.messageID == accepted.receipt.messageID)
        #expect(point.offset > 0 && point.offset < UInt64(size))

        let second = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        var received: ReceivedMessage?
        for try await event in try await second.fetch(max: 1, options: ReceiveOptions(payloadStorage: .directory(spool)), resume: point) {
            if case .message(let m) = event { received = m }
        }
        let message = try #require(received)
        print("download resume: DELIVER_BEGIN offset \(message.resumedAt) of \(size) bytes")
        #expect(message.resumedAt == point.offset)
        #expect(message.resumedAt > 0)
        #expect(message.isVerified, "\(String(describing: message.verificationError))")
        guard case .file(let path) = message.payload else { Issue.record("payload not in a file"); return }
        #expect(try Self.digest(ofFile: path) == expected)
        #expect(ReceiveOptions.resumePoint(in: spool) == nil)  // the part file became the payload
        _ = try await second.acknowledge(message)
        await second.close()
    }

    // MARK: the klammer command line: progress bars on a terminal, download resume from the spool

    @Test func klammerCommandLineShowsProgressAndResumesACutDownload() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("akte.bin")
        let size = 32 << 20
        let expected = try Self.writeDocument(document, size: size)

        // `klammer send` under a pseudo-terminal (util-linux `script`): a progress bar on stderr.
        var environment = daemon.environment(Self.schwerin)
        environment["KLAMMER_BIN"] = ProcessRunner.binary("klammer")
        environment["DOC"] = document
        let sent = try ProcessRunner.runIsolated(
            "/usr/bin/script", ["-qec", "\"$KLAMMER_BIN\" send --to \(Self.rostock) \"$DOC\"", "/dev/null"],
            environment: environment, seconds: 60)
        #expect(sent.status == 0, "\(sent.stdout) \(sent.stderr)")
        #expect(sent.stdout.contains("MiB/s") && sent.stdout.contains("(100%)"), "no progress bar: \(sent.stdout)")
        #expect(sent.stdout.contains("accepted"))
        // Not on a terminal: no progress bar in the output.
        let piped = try ProcessRunner.klammer(["send", "--to", Self.rostock, document], environment: daemon.environment(Self.schwerin))
        #expect(piped.status == 0)
        #expect(!piped.stdout.contains("MiB/s") && !piped.stderr.contains("MiB/s"))

        // A download cut at 50 % leaves its part file in `klammer receive`'s spool ...
        let out = base.file("inbox"), spool = out + "/.spool"
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let first = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let cutter = Cutter()
        await #expect(throws: (any Error).self) {
            for try await _ in try await first.fetch(
                max: 1,
                options: ReceiveOptions(
                    payloadStorage: .directory(spool),
                    progress: { _, received, total in
                        cutter.cut(first, done: received, total: total, fraction: 0.5)
                    }))
            {}
        }
        let point = try #require(ReceiveOptions.resumePoint(in: spool))
        // ... and `klammer receive` continues it from there.
        let received = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammer"), ["receive", "--out", out, "--ack"],
            environment: daemon.environment(Self.rostock), seconds: 60)
        #expect(received.status == 0, "\(received.stderr)")
        #expect(received.stderr.contains("resuming message \(point.messageID) at byte \(point.offset)"), "\(received.stderr)")
        #expect(received.stdout.contains("received \(point.messageID)"))
        #expect(try Self.digest(ofFile: out + "/\(point.messageID)/payload") == expected)
        #expect(ReceiveOptions.resumePoint(in: spool) == nil)
    }

    // MARK: (d) one byte over the limit

    @Test func documentOneByteOverTheLimitIsRefusedBeforeItIsStored() async throws {
        let base = try TempDir()
        let limit = 8 << 20
        let daemon = try Daemon(dataDirectory: base.file("dev"), arguments: ["--max-document-bytes", "\(limit)"])
        let atLimit = base.file("limit.bin"), over = base.file("over.bin")
        _ = try Self.writeDocument(atLimit, size: limit)
        _ = try Self.writeDocument(over, size: limit + 1)
        let client = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        #expect(await client.welcome?.brokerLimits.maxMessageSize == UInt64(limit))

        // Exactly the limit is accepted.
        let accepted = try await client.send(to: [Self.id(Self.rostock)], payload: .file(atLimit))
        #expect(accepted.receipt.kind == .accepted)

        let blobs = daemon.dataDirectory + "/store/blobs"
        let storedBefore = Self.files(in: blobs), partsBefore = Self.files(in: blobs + "/tmp")
        let prepared = try PreparedMessage.prepare(
            credentials: client.credentials, recipients: [Self.id(Self.rostock)], payload: .file(over))
        // The client refuses it itself (WELCOME announced the limit) ...
        await #expect { try await client.send(prepared) } throws: { error in
            (error as? KlammerClientError)?.code == .messageTooLarge
        }
        // ... and so does the broker, at SEND_BEGIN, before a single payload byte is sent or stored.
        let progress = ProgressRecorder()
        await #expect { try await client.send(prepared, progress: { s, t in progress.record(s, t) }, checkingLimits: false) } throws: {
            error in
            let e = error as? KlammerClientError
            return e?.code == .messageTooLarge && e?.kind == .brokerRefused
        }
        #expect(progress.count == 0)  // no READY, no CHUNK
        #expect(Self.files(in: blobs) == storedBefore)
        #expect(Self.files(in: blobs + "/tmp") == partsBefore)
        #expect(partsBefore.isEmpty)
        await client.close()
    }

    // MARK: (e) abandoned partial upload

    @Test func abandonedPartialUploadIsDeletedAndNeverDelivered() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"), arguments: ["--partial-upload-timeout", "2"])
        let document = base.file("akte.bin")
        let size = 16 << 20
        _ = try Self.writeDocument(document, size: size)
        let first = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let prepared = try PreparedMessage.prepare(
            credentials: first.credentials, recipients: [Self.id(Self.rostock)], payload: .file(document))
        let cutter = Cutter()
        await #expect(throws: KlammerClientError.self) {
            _ = try await first.send(prepared, progress: { sent, total in cutter.cut(first, done: sent, total: total, fraction: 0.5) })
        }
        // The part file exists while the upload is resumable ...
        let parts = daemon.dataDirectory + "/store/blobs/tmp"
        let sawPart = !Self.files(in: parts).isEmpty
        // ... and is deleted after the configured 2 s (bounded wait).
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, !Self.files(in: parts).isEmpty {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(sawPart, "the cut upload left no part file to clean up")
        #expect(Self.files(in: parts).isEmpty, "the abandoned part file is still there: \(Self.files(in: parts))")

        // Never delivered.
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        #expect(try await EndToEndTests.fetchAll(recipient).isEmpty)

        // The same message sent again starts from 0 (nothing left to resume) and arrives once.
        let retry = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let progress = ProgressRecorder()
        _ = try await retry.send(prepared, progress: { s, t in progress.record(s, t) })
        await retry.close()
        #expect(progress.first?.0 == 0)
        let spool = base.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let messages = try await EndToEndTests.fetchAll(recipient, options: ReceiveOptions(payloadStorage: .directory(spool)))
        #expect(messages.count == 1)
        await recipient.close()
    }
}
