import Foundation

/// One workload's numbers, printed as a table row or as one JSON object per line (`--json`).
struct BenchResult: Encodable {
    var workload: String
    var msgsPerSecond: Double
    var mibPerSecond: Double
    var p50Millis: Double
    var p90Millis: Double
    var p99Millis: Double
    var maxMillis: Double
    var errors: Int
    var durability: String
    var tls: String
    /// Broker CPU in cores (1.0 = one core busy) while the workload ran; nil when the broker is not ours.
    var brokerCPU: Double?
    /// Broker resident memory at the end of the workload; nil when the broker is not ours.
    var brokerRSSMiB: Double?
    /// Workload-specific extras (e.g. W5: connections, RSS per connection, handshakes/s).
    var extra: [String: Double] = [:]
    var note: String?
    var p999Millis: Double = 0
    /// Broker CPU time per message in µs (nil when the broker is not ours or nothing completed).
    var brokerMicrosPerMessage: Double? = nil
    /// The bench process's own CPU in cores (getrusage RUSAGE_SELF: all its threads; the broker is not in it).
    var clientCPU: Double? = nil
    /// The bench process's CPU time per message in µs.
    var clientMicrosPerMessage: Double? = nil
    /// The machine's durable 1 KiB append (write + fdatasync) in the broker's data directory's file system, measured
    /// once per run, printed beside every result (nil when it could not be measured).
    var fsyncP50Millis: Double? = nil
    var fsyncP99Millis: Double? = nil
    /// Open-loop workloads only: the rate the sends were scheduled at (msgs_per_s is the rate achieved).
    var targetRate: Double? = nil

    enum CodingKeys: String, CodingKey {
        case workload, msgsPerSecond = "msgs_per_s", mibPerSecond = "mib_per_s", p50Millis = "p50_ms", p90Millis = "p90_ms",
            p99Millis = "p99_ms", maxMillis = "max_ms", errors, durability, tls, brokerCPU = "broker_cpu",
            brokerRSSMiB = "broker_rss_mib", extra, note, p999Millis = "p999_ms",
            brokerMicrosPerMessage = "broker_cpu_us_per_msg", clientCPU = "client_cpu",
            clientMicrosPerMessage = "client_cpu_us_per_msg", fsyncP50Millis = "fsync_p50_ms",
            fsyncP99Millis = "fsync_p99_ms", targetRate = "target_msgs_per_s"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(workload, forKey: .workload)
        try c.encode(Self.round(msgsPerSecond), forKey: .msgsPerSecond)
        try c.encode(Self.round(mibPerSecond), forKey: .mibPerSecond)
        try c.encode(Self.round(p50Millis), forKey: .p50Millis)
        try c.encode(Self.round(p90Millis), forKey: .p90Millis)
        try c.encode(Self.round(p99Millis), forKey: .p99Millis)
        try c.encode(Self.round(p999Millis), forKey: .p999Millis)
        try c.encode(Self.round(maxMillis), forKey: .maxMillis)
        try c.encode(errors, forKey: .errors)
        try c.encode(durability, forKey: .durability)
        try c.encode(tls, forKey: .tls)
        // Explicit null when unknown, so every line has every key.
        if let brokerCPU { try c.encode(Self.round(brokerCPU), forKey: .brokerCPU) } else { try c.encodeNil(forKey: .brokerCPU) }
        if let brokerRSSMiB {
            try c.encode(Self.round(brokerRSSMiB), forKey: .brokerRSSMiB)
        } else {
            try c.encodeNil(forKey: .brokerRSSMiB)
        }
        for (value, key) in [
            (brokerMicrosPerMessage, CodingKeys.brokerMicrosPerMessage), (clientCPU, .clientCPU),
            (clientMicrosPerMessage, .clientMicrosPerMessage), (fsyncP50Millis, .fsyncP50Millis),
            (fsyncP99Millis, .fsyncP99Millis)
        ] {
            if let value { try c.encode(Self.round(value), forKey: key) } else { try c.encodeNil(forKey: key) }
        }
        if let targetRate { try c.encode(Self.round(targetRate), forKey: .targetRate) }
        if !extra.isEmpty { try c.encode(extra.mapValues(Self.round), forKey: .extra) }
        if let note { try c.encode(note, forKey: .note) }
    }

    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    /// One compact JSON line.
    var jsonLine: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }

    static func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return left ? text + fill : fill + text
    }

    static let tableHeader =
        pad("wl", 9, left: true)
        + [
            "target/s", "msgs/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "p999 ms", "max ms", "errors", "brk cpu", "brk us/m",
            "cli cpu", "cli us/m", "brk MiB"
        ].map { pad($0, 10) }.joined() + "  fsync p50/p99 ms"

    var tableRow: String {
        func num(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }
        func opt(_ v: Double?) -> String { v.map { num($0) } ?? "-" }
        var row =
            Self.pad(workload, 9, left: true)
            + [
                targetRate.map { num($0, 0) } ?? "-", num(msgsPerSecond, 1), num(mibPerSecond), num(p50Millis), num(p90Millis),
                num(p99Millis), num(p999Millis), num(maxMillis), String(errors), opt(brokerCPU), opt(brokerMicrosPerMessage),
                opt(clientCPU), opt(clientMicrosPerMessage), opt(brokerRSSMiB)
            ].map { Self.pad($0, 10) }.joined()
            + "  " + opt(fsyncP50Millis) + "/" + opt(fsyncP99Millis)
        if !extra.isEmpty {
            row += "  " + extra.sorted { $0.key < $1.key }.map { "\($0.key)=\(num($0.value, 1))" }.joined(separator: " ")
        }
        if let note { row += "  (\(note))" }
        return row
    }
}
