import Foundation
import Testing
import KlammerAudit
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

/// The free-space reserve (SPEC.md §7.1 check 5b, §12 `store.free_space_reserve_bytes`) on a real, small file system: a
/// 16 MiB tmpfs. New submissions are refused with the retryable STORAGE_FULL before the disk is full, the store is
/// never poisoned, the audit log (admin API) keeps working, and once space is back submissions are taken again
/// without a restart.
@Suite(.serialized) struct BrokerFreeSpaceTests {
    /// A tmpfs of `megabytes` mounted on a fresh directory; unmounted by `unmount()`.
    final class TmpfsMount {
        let directory: TemporaryDirectory
        var path: String { directory.path }

        init?(megabytes: Int) throws {
            directory = try TemporaryDirectory()
            guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m,mode=0700", "tmpfs", directory.path]) == 0 else {
                return nil
            }
        }

        func unmount() { _ = Self.run("/bin/umount", [directory.path]) }

        static func run(_ tool: String, _ arguments: [String]) -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return -1 }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    /// True if this process may mount a tmpfs (root in a container that allows it); the test is skipped otherwise.
    static let canMount: Bool = {
        guard geteuid() == 0, let probe = try? TmpfsMount(megabytes: 1) else { return false }
        probe.unmount()
        return true
    }()

    @Test(.enabled(if: canMount, "needs permission to mount a tmpfs (root; `mount -t tmpfs` refused here) — skipped"))
    func belowTheReserveSubmissionsGetStorageFullAdminStaysUsableAndSpaceComingBackNeedsNoRestart() async throws {
        let fixture = try await BrokerFixture()
        guard let disk = try TmpfsMount(megabytes: 16) else { Issue.record("mount failed after the probe succeeded"); return }
        defer { disk.unmount() }
        let filler = disk.path + "/filler"
        // 5 MiB the test frees again later (as an operator would remove old files).
        try Data(count: 5 << 20).write(to: URL(fileURLWithPath: filler))

        let clock = fixture.clock
        var storeConfig = StoreConfiguration(directory: disk.path + "/store")
        storeConfig.now = { clock.now() }
        let store = try await KlammerStore.open(storeConfig)
        var config = try BrokerConfiguration(
            brokerID: try ParticipantID("broker:klammer-1"), certificate: fixture.brokerCertificate,
            key: fixture.brokerKey, directory: disk.path + "/broker")
        config.maxInlinePayload = 64 << 10
        config.now = { clock.now() }
        config.freeSpaceReserveBytes = 4 << 20
        config.storeDirectory = storeConfig.directory
        let broker = try Broker(configuration: config, registry: fixture.registry, store: store)
        let audit = try AuditLog(path: disk.path + "/audit.jsonl", signer: nil)

        func send(_ index: Int) async throws -> SignedReceipt {
            let payload = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 1 << 20)
            let envelope = try fixture.envelope(payload: payload, clientID: "fill-\(index)")
            let start = try broker.beginSubmission(from: fixture.participant(BrokerFixture.sender), envelopeBytes: envelope.canonicalBytes)
            guard case .upload(let submission) = start else { throw ProtocolError(.internalError, "unexpected duplicate") }
            var offset = 0
            while offset < payload.count {
                try submission.append(Array(payload[offset..<min(offset + (64 << 10), payload.count)]))
                offset += 64 << 10
            }
            return try await broker.finishSubmission(
                submission, signature: try fixture.sign(envelope.canonicalBytes, by: BrokerFixture.sender))
        }

        // Fill with 1 MiB documents until the broker refuses: it must be STORAGE_FULL (retryable), never an I/O error.
        var accepted = 0
        var refusal: ProtocolError?
        for index in 0..<32 {
            do {
                _ = try await send(index)
                accepted += 1
            } catch let error as ProtocolError {
                refusal = error
                break
            }
        }
        let refused = try #require(refusal, "16 MiB took 32 MiB of documents")
        #expect(refused.code == .storageFull && refused.code.isRetryable, "\(refused)")
        #expect(refused.message.contains("reserve"), "\(refused.message)")
        #expect(accepted >= 3, "only \(accepted) documents fit")
        let free = try #require(Broker.availableBytes(at: disk.path))
        #expect(free >= 3 << 20, "the reserve was eaten: \(free) bytes free")
        // Not poisoned: the store still takes writes, the admin API's audit log still appends.
        #expect(store.writeProblem() == nil)
        try audit.append(actor: "operator", action: "participant.suspend", subject: BrokerFixture.sender, outcome: .ok)
        #expect(!audit.isPoisoned)

        // Space comes back: the next submission is taken without a restart.
        try FileManager.default.removeItem(atPath: filler)
        let receipt = try await send(100)
        #expect(receipt.receipt.kind == .accepted)

        broker.close()
        await store.close()
    }
}
