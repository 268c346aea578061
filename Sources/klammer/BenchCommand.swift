import ArgumentParser
import Foundation
import KlammerClient
import KlammerProtocol

/// `klammer bench [--workload W1…] [--duration 10s] [--json]`: throughput and latency of the broker under the
/// reference workloads, printed next to the machine's own limits measured in the same run. Without `--broker` it
/// starts its own `klammerd --dev` (temp data directory, port 0) from the directory of `klammer` and stops it after.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput and latency (W1 pipelined 1 KiB, W2 end-to-end, W3 1 MiB, W4 fan-out to 100, W5 connections).",
        discussion: """
            W1: 4 producer connections × 256 unconfirmed 1 KiB sends, counted at the accepted receipt. \
            W2: 1 producer + 1 consumer acknowledging each, end-to-end latency. W3: 1 producer, 1 MiB documents. \
            W4: one send to --fanout (100) recipients, each acknowledging; latency until all acknowledged. \
            W5: N idle authenticated connections (broker RSS per connection) and a handshake storm. \
            Messages are batch-signed (one CMS per --batch messages, SPEC.md §5.5). With --broker, the credentials \
            (--cert/--key/--ca or profile) are the sender; --recipient and --consumer name the other participants, \
            --fanout-profiles lists the W4 recipients' profile files (one per line). Without --broker, the W4 \
            recipients are created at run time (certificates from the dev CA, registered via the admin socket).
            """)

    @OptionGroup var profile: ProfileOptions

    @Option(name: .long, help: ArgumentHelp("Workload to run (repeat; default all).", valueName: "W1|W2|W3|W4|W5"))
    var workload: [String] = []

    @Option(name: .long, help: ArgumentHelp("Duration of each workload, e.g. 10s or 500ms.", valueName: "DURATION"))
    var duration: String = "10s"

    @Option(name: .customLong("idle-connections"), help: "W5: number of idle connections (raise `ulimit -n` for 10000).")
    var idleConnections: Int = 1000

    @Option(name: .long, help: "W1: producer connections.")
    var connections: Int = 4

    @Option(name: .long, help: "W1: unconfirmed sends per connection.")
    var window: Int = 256

    @Option(name: .long, help: "Messages per batch signature (1…4096).")
    var batch: Int = 64

    @Option(name: .long, help: ArgumentHelp("With --broker: the recipient of W1/W3 (no consumer).", valueName: "ID"))
    var recipient: String = "ags:13003000"

    @Option(name: .long, help: ArgumentHelp("With --broker: the consumer of W2 (its profile via --consumer-cert/--consumer-key).", valueName: "ID"))
    var consumer: String = "ags:13076000"

    @Option(name: .customLong("consumer-cert"), help: ArgumentHelp("With --broker: certificate of the W2 consumer.", valueName: "FILE"))
    var consumerCert: String?

    @Option(name: .customLong("consumer-key"), help: ArgumentHelp("With --broker: key of the W2 consumer.", valueName: "FILE"))
    var consumerKey: String?

    @Option(name: .long, help: "W4: recipients per message when the bench starts its own broker (1…1000).")
    var fanout: Int = 100

    @Option(name: .customLong("fanout-profiles"), help: ArgumentHelp("With --broker: W4 recipients, a file listing one profile file (cert, key) per line.", valueName: "FILE"))
    var fanoutProfiles: String?

    @Option(name: .long, help: ArgumentHelp("klammerd to start (default: the one next to klammer).", valueName: "PATH"))
    var klammerd: String?

    @Flag(name: .long, help: "One JSON object per line per workload (after a `limits` line).")
    var json = false

    @Flag(name: .customLong("no-limits"), help: "Skip measuring the machine limits (openssl speed, fdatasync).")
    var noLimits = false

    static let allWorkloads = ["W1", "W2", "W3", "W4", "W5"]

    func validate() throws {
        for w in workload where !Self.allWorkloads.contains(w.uppercased()) {
            throw ValidationError("unknown workload \(w); use W1, W2, W3, W4 or W5")
        }
        guard Self.parseDuration(duration) != nil else { throw ValidationError("--duration must look like 10s, 1.5s or 500ms") }
        guard (1...100_000).contains(idleConnections) else { throw ValidationError("--idle-connections must be 1…100000") }
        guard (1...64).contains(connections), (1...4096).contains(window) else {
            throw ValidationError("--connections must be 1…64 and --window 1…4096")
        }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be 1…4096") }
        guard (1...FanOutRecipients.maximumCount).contains(fanout) else { throw ValidationError("--fanout must be 1…\(FanOutRecipients.maximumCount)") }
    }

    static func parseDuration(_ text: String) -> Duration? {
        if text.hasSuffix("ms"), let v = Double(text.dropLast(2)), v > 0, v <= 3_600_000 { return .milliseconds(Int(v)) }
        if text.hasSuffix("s"), let v = Double(text.dropLast()), v > 0, v <= 3600 { return .milliseconds(Int(v * 1000)) }
        if let v = Double(text), v > 0, v <= 3600 { return .milliseconds(Int(v * 1000)) }
        return nil
    }

    func run() async throws {
        let wanted = workload.isEmpty ? Self.allWorkloads : workload.map { $0.uppercased() }
        Self.raiseFileLimit()  // before starting klammerd, which inherits it
        var own: BenchBroker? = nil
        defer { own?.stop() }
        let sender: ClientProfile, recipientProfile: ClientProfile, consumerProfile: ClientProfile
        if profile.broker == nil {
            let broker = try BenchBroker(binary: klammerd)
            own = broker
            sender = broker.profile("ags:13004000")
            recipientProfile = broker.profile("ags:13003000")
            consumerProfile = broker.profile("ags:13076000")
        } else {
            let resolved = try profile.resolve()
            sender = resolved
            recipientProfile = resolved
            var c = resolved
            c.certificatePath = consumerCert ?? resolved.certificatePath
            c.keyPath = consumerKey ?? resolved.keyPath
            consumerProfile = c
        }
        let limits = noLimits ? MachineLimits() : MachineLimits.measure(directory: own?.dataDirectory ?? FileManager.default.temporaryDirectory.path)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let line = "{\"limits\":" + String(decoding: try encoder.encode(limits), as: UTF8.self) + "}"
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        } else {
            FileHandle.standardOutput.write(Data((limits.lines + [BenchResult.tableHeader]).map { $0 + "\n" }.joined().utf8))
        }
        let workloads = BenchWorkloads(
            sender: sender, recipient: recipientProfile, consumer: consumerProfile,
            recipientID: try ParticipantID(recipient), consumerID: try ParticipantID(consumer),
            duration: Self.parseDuration(duration)!, brokerPID: own?.pid,
            durability: own != nil ? "fsync group commit (dev)" : "broker default", tls: "TLS 1.3 mTLS ECDSA P-256",
            idleConnections: idleConnections, batchSize: batch)
        for name in wanted {
            let result: BenchResult
            switch name {
            case "W1": result = try await workloads.producers("W1", connections: connections, window: window, size: 1024)
            case "W2": result = try await workloads.endToEnd()
            case "W3": result = try await workloads.producers("W3", connections: 1, window: 4, size: 1 << 20)
            case "W4":
                if let own {
                    result = try await workloads.fanOut(try FanOutRecipients.register(count: fanout, on: own))
                } else if let fanoutProfiles {
                    result = try await workloads.fanOut(try FanOutRecipients.load(listFile: fanoutProfiles, base: try profile.resolve()))
                } else {
                    result = BenchResult(workload: name, msgsPerSecond: 0, mibPerSecond: 0, p50Millis: 0, p90Millis: 0, p99Millis: 0,
                                         maxMillis: 0, errors: 0, durability: workloads.durability, tls: workloads.tls,
                                         brokerCPU: nil, brokerRSSMiB: nil, note: "skipped: with --broker, W4 needs --fanout-profiles FILE")
                }
            default: result = try await workloads.connections()
            }
            // Unbuffered, so each workload's line appears as soon as it is measured.
            FileHandle.standardOutput.write(Data(((json ? result.jsonLine : result.tableRow) + "\n").utf8))
        }
    }

    /// Raises the soft open-file limit to the hard limit (W5 needs one descriptor per connection on each side).
    static func raiseFileLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(resource, &limit)
    }
}
