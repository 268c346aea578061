// Crash-test helper: appends under load to a store and prints every confirmation, so a test can kill it with
// SIGKILL at a random moment and check the store afterwards.
//
// Usage: klammer-store-crashtest <dir> <cycle>
// Output lines (one write(2) each, unbuffered):
//   READY
//   C <sender> <clientMessageID> <messageID>   after append returned .stored
//   A <messageID>                              after ack (queue "x") returned
import Foundation
import Glibc
import KlammerStore
import Synchronization

let args = CommandLine.arguments
guard args.count == 3, let cycle = Int(args[2]) else {
    FileHandle.standardError.write("usage: klammer-store-crashtest <dir> <cycle>\n".data(using: .utf8)!)
    exit(2)
}

let out = Mutex(())
func emit(_ line: String) {
    out.withLock { _ in
        var s = line + "\n"
        s.withUTF8 { u in _ = write(1, u.baseAddress, u.count) }
    }
}

/// Deterministic payload for (sender, client id): the checker regenerates it to detect alteration.
func payload(_ sender: String, _ cmid: String) -> [UInt8] {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in (sender + "|" + cmid).utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    let n = 32 + Int(h % 600)
    return (0..<n).map { UInt8(truncatingIfNeeded: h &+ UInt64($0) &* 31) }
}

var config = StoreConfiguration(directory: args[1])
config.segmentSize = 32 << 10
config.maintenanceInterval = .milliseconds(3)
config.compactionLiveRatio = 0.9
config.compactionStepRecords = 16
config.maxAttempts = 1_000_000

let store = try await KlammerStore.open(config)
emit("READY")

let senders = 8
await withTaskGroup(of: Void.self) { g in
    for k in 0..<senders {
        g.addTask {
            let sender = "s\(k)"
            var i = 0
            while true {
                let cmid = "c\(cycle)-\(i)"
                // Even messages go to "r" (never acked, kept forever) and "x"; odd ones only to "x" (acked → reclaimed).
                let recipients = i % 2 == 0 ? ["r", "x"] : ["x"]
                let m = MessageRecord(
                    sender: sender, clientMessageID: cmid, recipients: recipients,
                    envelope: Array(cmid.utf8), payload: .inline(payload(sender, cmid)),
                    outcome: Array("ok \(sender) \(cmid)".utf8))
                do {
                    if case .stored(let id, _) = try await store.append(m) { emit("C \(sender) \(cmid) \(id)") }
                } catch {
                    FileHandle.standardError.write("append failed: \(error)\n".data(using: .utf8)!)
                    exit(1)
                }
                i += 1
            }
        }
    }
    g.addTask {
        let consumer = ConsumerID("acker")
        while true {
            do {
                let ds = try await store.lease(recipient: "x", consumer: consumer, max: 32, visibility: .seconds(60))
                if ds.isEmpty { try await Task.sleep(for: .milliseconds(1)); continue }
                for d in ds {
                    try await store.ack(recipient: "x", messageID: d.messageID, leaseToken: d.leaseToken)
                    emit("A \(d.messageID)")
                }
            } catch {
                FileHandle.standardError.write("ack failed: \(error)\n".data(using: .utf8)!)
                exit(1)
            }
        }
    }
}
