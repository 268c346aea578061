import ArgumentParser
import Foundation
import KlammerClient
import KlammerProtocol

/// `klammer-bench [--workload W1…] [--duration 10s] [--json]`: throughput and latency of the broker under the
/// reference workloads, printed next to the machine's own limits measured in the same run. Without `--broker` it
/// starts its own `klammerd --dev` (temp data directory, port 0) from the directory of `klammer-bench` and stops it
/// after. A separate executable, so the agency CLI `klammer` carries neither the bench nor its admin-API dependency.
@main
struct KlammerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammer-bench",
        abstract:
            "Measure the broker's throughput and latency (W1 pipelined 1 KiB, W2 end-to-end, W3 1 MiB, W4 fan-out to 100, W5 connections; W1-open, W2-open at fixed rates).",
        discussion: """
            W1: 4 producer connections × 256 unconfirmed 1 KiB sends, counted at the accepted receipt. \
            W2: 1 producer + 1 consumer acknowledging each, end-to-end latency. W3: 1 producer, 1 MiB documents. \
            W4: one send to --fanout (100) recipients, each acknowledging; latency until all acknowledged. \
            W5: N idle authenticated connections (broker RSS per connection) and a handshake storm. \
            W1-open, W2-open: W1 and W2 as open loops at each --rate (msgs/s), latency from each message's intended \
            send time (no coordinated omission), p50/p99/p999 and the rate achieved. \
            Messages are batch-signed before the timer starts (one CMS per --batch messages, SPEC.md §5.5, shared by \
            a connection's send slots); the client's CPU per message is reported next to the broker's, and every result \
            carries the fdatasync latency of the data directory's file system (measured once). With --broker, the credentials \
            (--cert/--key/--ca or profile) are the sender; --recipient and --consumer name the other participants, \
            --fanout-profiles lists the W4 recipients' profile files (one per line). Without --broker, the W4 \
            recipients are created at run time (certificates from the dev CA, registered via the admin socket).
            """)

    @OptionGroup var profile: ProfileOptions

    @Option(name: .long, help: ArgumentHelp("Workload to run (repeat; default W1-W5).", valueName: "W1|W2|W3|W4|W5|W1-open|W2-open"))
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
    var batch: Int = 256

    @Option(
        name: .long,
        help: ArgumentHelp("W1-open/W2-open: send rates in msgs/s, comma-separated (each 1…1000000; one run each).", valueName: "R1,R2,…"))
    var rate: String = "5000,20000,50000"

    @Option(name: .long, help: ArgumentHelp("With --broker: the recipient of W1/W3 (no consumer).", valueName: "ID"))
    var recipient: String = "ags:13003000"

    @Option(
        name: .long,
        help: ArgumentHelp("With --broker: the consumer of W2 (its profile via --consumer-cert/--consumer-key).", valueName: "ID"))
    var consumer: String = "ags:13076000"

    @Option(name: .customLong("consumer-cert"), help: ArgumentHelp("With --broker: certificate of the W2 consumer.", valueName: "FILE"))
    var consumerCert: String?

    @Option(name: .customLong("consumer-key"), help: ArgumentHelp("With --broker: key of the W2 consumer.", valueName: "FILE"))
    var consumerKey: String?

    @Option(name: .long, help: "W4: recipients per message when the bench starts its own broker (1…1000).")
    var fanout: Int = 100

    @Option(
        name: .customLong("fanout-profiles"),
        help: ArgumentHelp("With --broker: W4 recipients, a file listing one profile file (cert, key) per line.", valueName: "FILE"))
    var fanoutProfiles: String?

    @Option(name: .long, help: ArgumentHelp("klammerd to start (default: the one next to klammer-bench).", valueName: "PATH"))
    var klammerd: String?

    @Flag(name: .long, help: "One JSON object per line per workload (after a `limits` line).")
    var json = false

    @Flag(name: .customLong("no-limits"), help: "Skip measuring the machine limits (openssl speed, fdatasync).")
    var noLimits = false

    static let allWorkloads = ["W1", "W2", "W3", "W4", "W5"]
    static let openLoopWorkloads = ["W1-OPEN", "W2-OPEN"]

    func validate() throws {
        for w in workload where !(Self.allWorkloads + Self.openLoopWorkloads).contains(w.uppercased()) {
            throw ValidationError("unknown workload \(w); use W1, W2, W3, W4, W5, W1-open or W2-open")
        }
        guard let rates = Self.parseRates(rate) else {
            throw ValidationError("--rate must be comma-separated msgs/s, each 1…1000000 (at most 16), e.g. 5000,20000,50000")
        }
        if let seconds = Self.parseDuration(duration).map({ $0 / .seconds(1) }), let top = rates.max(), Double(top) * seconds > 20_000_000 {
            throw ValidationError("--rate \(top) × --duration is more than 20,000,000 messages; shorten the duration")
        }
        guard Self.parseDuration(duration) != nil else { throw ValidationError("--duration must look like 10s, 1.5s or 500ms") }
        guard (1...100_000).contains(idleConnections) else { throw ValidationError("--idle-connections must be 1…100000") }
        guard (1...64).contains(connections), (1...4096).contains(window) else {
            throw ValidationError("--connections must be 1…64 and --window 1…4096")
        }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch must be 1…4096") }
        guard (1...FanOutRecipients.maximumCount).contains(fanout) else {
            throw ValidationError("--fanout must be 1…\(FanOutRecipients.maximumCount)")
        }
    }

    static func parseRates(_ text: String) -> [Int]? {
        let rates = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !rates.isEmpty, rates.count <= 16, rates.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 1_000_000 }) else { return nil }
        return rates.compactMap { $0 }
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
        // The fsync probe (0.5 s) runs even with --no-limits: every result prints it.
        let dataFileSystem = own?.dataDirectory ?? FileManager.default.temporaryDirectory.path
        var limits = noLimits ? MachineLimits() : MachineLimits.measure(directory: dataFileSystem)
        if noLimits, let (p50, p99) = MachineLimits.fdatasyncLatency(directory: dataFileSystem) {
            limits.fdatasyncP50Millis = p50
            limits.fdatasyncP99Millis = p99
        }
        let fsync = limits.fdatasyncP50Millis.flatMap { p50 in limits.fdatasyncP99Millis.map { (p50: p50, p99: $0) } }
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
            idleConnections: idleConnections, batchSize: batch, fsync: fsync)
        for name in wanted {
            if Self.openLoopWorkloads.contains(name) {
                for rate in Self.parseRates(rate)! {
                    let result: BenchResult
                    if name == "W1-OPEN" {
                        result = try await workloads.producers("W1-open", connections: connections, window: window, size: 1024, rate: rate)
                    } else {
                        result = try await workloads.endToEnd(rate: rate, window: window)
                    }
                    FileHandle.standardOutput.write(Data(((json ? result.jsonLine : result.tableRow) + "\n").utf8))
                }
                continue
            }
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
                    result = BenchResult(
                        workload: name, msgsPerSecond: 0, mibPerSecond: 0, p50Millis: 0, p90Millis: 0, p99Millis: 0,
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
