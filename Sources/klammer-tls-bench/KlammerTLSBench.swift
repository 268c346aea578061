import ArgumentParser
import Foundation
import KlammerCrypto
import KlammerTLS
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Measures KlammerTLS next to the `openssl` tools on the same machine:
/// full mTLS handshakes per second (ECDSA P-256, TLS 1.3) and bulk throughput (64 KiB writes) over loopback.
/// Build with `-c release`. Each server side runs on one thread, like `openssl s_server`.
@main
struct KlammerTLSBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammer-tls-bench",
        abstract: "TLS handshake rate and bulk throughput of KlammerTLS vs. the openssl CLI on this machine.")

    @Option(help: "Seconds per measurement.")
    var seconds: Int = 5

    @Flag(help: "Print the results as JSON.")
    var json = false

    @Flag(help: "Skip the openssl baselines.")
    var skipOpenSSL = false

    @Flag(help: "Only measure bulk throughput (for profiling).")
    var bulkOnly = false

    @Option(
        help:
            "Only run a KlammerTLS server (no ALPN required) for this many seconds, printing its port and PKI directory (for manual s_time/perf runs)."
    )
    var serveOnly: Int?

    mutating func run() async throws {
        var results: [(String, Double, String)] = []  // name, value, unit
        func report(_ name: String, _ value: Double, _ unit: String) {
            results.append((name, value, unit))
            if !json { print(String(format: "%-58@ %12.1f %@", name as NSString, value, unit as NSString)) }
        }
        let pki = try BenchPKI()
        defer { pki.cleanup() }
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let time = seconds
        let cd = "cd '\(pki.dir.path)' && "
        if !json { print("\(OpenSSLVersion.text); \(ProcessInfo.processInfo.activeProcessorCount) CPUs; \(seconds) s per measurement\n") }

        if let serveOnly {
            let server = try await startServer(
                group: serverGroup, context: try pki.serverContext(requireALPN: false), counter: ByteCounter())
            FileHandle.standardOutput.write(Data("port \(server.localAddress!.port!) pki \(pki.dir.path)\n".utf8))
            try await Task.sleep(for: .seconds(serveOnly))
            try await server.close()
            return
        }

        if !bulkOnly {
            // MARK: Handshakes
            let counter = ByteCounter()
            let ours = try await startServer(group: serverGroup, context: try pki.serverContext(requireALPN: false), counter: counter)
            let oursPort = ours.localAddress!.port!
            let sTime = "openssl s_time -connect 127.0.0.1:%d -new -cert client.pem -key client.key -CAfile ca.pem -time \(time)"
            if !skipOpenSSL {
                let cpuBefore = cpuSeconds()
                let run = try shell(cd + String(format: sTime, oursPort), timeout: Double(time) + 30)
                let cpu = cpuSeconds() - cpuBefore
                report("handshakes/s: openssl s_time -> KlammerTLS server", parseSTime(run.output), "hs/s")
                report("server CPU per handshake: KlammerTLS", cpu * 1000 / max(1, parseSTimeCount(run.output)), "ms")
                // Same policy as ours (P-256/P-384 only: s_time offers an X25519 key share first, so both servers
                // answer with a HelloRetryRequest), then openssl's defaults (X25519, tickets) for reference.
                for (label, extra) in [("-groups P-256:P-384 -num_tickets 0", "-groups P-256:P-384 -num_tickets 0"), ("defaults", "")] {
                    let port = try await freePort(group: clientGroup)
                    let sServer = try startBackground(
                        cd
                            + "exec openssl s_server -accept 127.0.0.1:\(port) -cert server.pem -key server.key -CAfile ca.pem -Verify 1 \(extra) -quiet"
                    )
                    try await waitForListener(port: port, group: clientGroup)
                    let cpuBefore = cpuSeconds("\(sServer.processIdentifier)")
                    let base = try shell(cd + String(format: sTime, port), timeout: Double(time) + 30)
                    let cpu = cpuSeconds("\(sServer.processIdentifier)") - cpuBefore
                    kill(sServer.processIdentifier, SIGKILL)  // SIGTERM left s_server running here; leave no listener behind
                    sServer.waitUntilExit()
                    report("handshakes/s: openssl s_time -> s_server -Verify 1 \(label)", parseSTime(base.output), "hs/s")
                    report("server CPU per handshake: s_server \(label)", cpu * 1000 / max(1, parseSTimeCount(base.output)), "ms")
                }
            }
            let oursToOurs = try await handshakeLoop(
                group: clientGroup, port: oursPort, context: try pki.clientContext(), seconds: time, concurrency: 4)
            report("handshakes/s: KlammerTLS client -> KlammerTLS server", oursToOurs, "hs/s")
            try await ours.close()
        }

        // MARK: Bulk
        let bulkCounter = ByteCounter()
        let bulkServer = try await startServer(group: serverGroup, context: try pki.serverContext(requireALPN: true), counter: bulkCounter)
        let bulkCPUBefore = cpuSeconds()
        let mbps = try await bulk(
            group: clientGroup, port: bulkServer.localAddress!.port!, context: try pki.clientContext(), seconds: time, counter: bulkCounter)
        let bulkCPU = cpuSeconds() - bulkCPUBefore
        report("bulk MB/s: KlammerTLS client -> server, 64 KiB writes", mbps, "MB/s")
        report(
            "bulk MB per CPU-second (encrypt+decrypt, both ends)",
            Double(bulkCounter.bytes.load(ordering: .relaxed)) / 1e6 / max(bulkCPU, 0.001), "MB/cpu-s")
        try await bulkServer.close()
        if !skipOpenSSL {
            let port = try await freePort(group: clientGroup)
            let run = try shell(opensslBulkScript(directory: pki.dir.path, port: port, bytes: 400_000_000), timeout: 120)
            report("bulk MB/s: openssl s_client -> s_server -Verify 1 (same machine)", parseOpenSSLBulk(run.output), "MB/s")
            let speed = try shell(
                "openssl speed -evp aes-256-gcm -bytes 16384 -seconds \(max(1, time / 2)) 2>/dev/null", timeout: Double(time) + 30)
            report("bulk MB/s: openssl speed -evp aes-256-gcm (16 KiB, 1 core)", parseSpeed(speed.output), "MB/s")
        }

        if json {
            let object = Dictionary(uniqueKeysWithValues: results.map { ($0.0, ["value": $0.1, "unit": $0.2] as [String: Any]) })
            let data = try JSONSerialization.data(
                withJSONObject: ["openssl": OpenSSLVersion.text, "seconds": seconds, "results": object],
                options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        try await serverGroup.shutdownGracefully()
        try await clientGroup.shutdownGracefully()
    }

    func startServer(group: any EventLoopGroup, context: TLSContext, counter: ByteCounter) async throws -> any Channel {
        let logger = {
            var l = Logger(label: "klammer.tls.bench"); l.logLevel = .error; return l
        }()
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                configureTLSServerPipeline(channel: channel, context: context, authorizer: .acceptAll, logger: logger).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(CountingHandler(counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Sequential connect → authorized → close loops, `concurrency` at a time.
    func handshakeLoop(group: any EventLoopGroup, port: Int, context: TLSContext, seconds: Int, concurrency: Int) async throws -> Double {
        let logger = {
            var l = Logger(label: "klammer.tls.bench"); l.logLevel = .error; return l
        }()
        let done = ByteCounter()
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<concurrency {
                tasks.addTask {
                    while ContinuousClock.now < deadline {
                        let promise = group.next().makePromise(of: Void.self)
                        let channel = try await ClientBootstrap(group: promise.futureResult.eventLoop)
                            .channelInitializer { channel in
                                configureTLSClientPipeline(channel: channel, context: context, logger: logger).flatMapThrowing {
                                    try channel.pipeline.syncOperations.addHandler(HandshakeOnce(done: promise))
                                }
                            }
                            .connect(host: "127.0.0.1", port: port).get()
                        try await promise.futureResult.get()
                        try? await channel.closeFuture.get()
                        done.handshakes.add(1, ordering: .relaxed)
                    }
                }
            }
            try await tasks.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        return Double(done.handshakes.load(ordering: .relaxed))
            / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    func bulk(group: any EventLoopGroup, port: Int, context: TLSContext, seconds: Int, counter: ByteCounter) async throws -> Double {
        let logger = {
            var l = Logger(label: "klammer.tls.bench"); l.logLevel = .error; return l
        }()
        let loop = group.next()
        let done = loop.makePromise(of: Void.self)
        let deadline = NIODeadline.now() + .seconds(Int64(seconds))
        let start = ContinuousClock.now
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                configureTLSClientPipeline(channel: channel, context: context, logger: logger).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(BulkWriter(chunkSize: 64 * 1024, deadline: deadline, done: done))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await done.futureResult.get()
        let elapsed = ContinuousClock.now - start
        let bytes = counter.bytes.load(ordering: .relaxed)
        try? await channel.close()
        return Double(bytes) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / 1e6
    }

    /// `N connections in T real seconds` from `openssl s_time`.
    func parseSTime(_ output: String) -> Double {
        for line in output.split(separator: "\n") where line.contains("real seconds") {
            let parts = line.split(separator: " ")
            if let n = Double(parts[0]), let index = parts.firstIndex(of: "in"), let t = Double(parts[index + 1]), t > 0 { return n / t }
        }
        FileHandle.standardError.write(Data("could not parse s_time output:\n\(output)\n".utf8))
        return 0
    }

    /// `N connections in …` from `openssl s_time`.
    func parseSTimeCount(_ output: String) -> Double {
        for line in output.split(separator: "\n") where line.contains("real seconds") {
            if let n = Double(line.split(separator: " ")[0]) { return n }
        }
        return 0
    }

    /// The `aes-256-gcm  12345.67k` row of `openssl speed` (1000s of bytes per second) as MB/s.
    func parseSpeed(_ output: String) -> Double {
        for line in output.split(separator: "\n") where line.lowercased().hasPrefix("aes-256-gcm") {
            if let last = line.split(separator: " ").last, let k = Double(last.dropLast()) { return k * 1000 / 1e6 }
        }
        return 0
    }
}
