import Foundation
import KlammerCrypto
import KlammerTLS
import NIOCore
import NIOPosix

/// Throwaway PKI in a temp dir (never committed): ECDSA P-256 CA, server and client.
struct BenchPKI {
    let dir: URL
    let ca: CertificateAuthority
    let server: (Certificate, PrivateKey)
    let client: (Certificate, PrivateKey)

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("klammer-tls-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ca = try CertificateAuthority.create(commonName: "Bench CA")
        let serverKey = try PrivateKey.generate(.p256)
        let clientKey = try PrivateKey.generate(.p256)
        server = (
            try ca.issue(
                commonName: "bench-server", subjectAlternativeNames: ["IP:127.0.0.1"], publicKey: serverKey.publicKey, usage: .server),
            serverKey
        )
        client = (try ca.issue(commonName: "bench-client", publicKey: clientKey.publicKey, usage: .client), clientKey)
        try write("ca.pem", ca.certificate.pemString)
        try write("server.pem", server.0.pemString)
        try write("server.key", server.1.pkcs8PEM)
        try write("client.pem", client.0.pemString)
        try write("client.key", client.1.pkcs8PEM)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
    func write(_ name: String, _ text: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }
    func cleanup() { try? FileManager.default.removeItem(at: dir) }

    var trust: TrustStore { TrustStore(anchors: [ca.certificate]) }

    func serverContext(requireALPN: Bool) throws -> TLSContext {
        var config = TLSConfiguration.server(certificateChain: [server.0], privateKey: server.1, trustStore: trust)
        config.requireApplicationProtocol = requireALPN  // `openssl s_time` cannot send ALPN
        return try TLSContext(configuration: config)
    }

    func clientContext() throws -> TLSContext {
        try TLSContext(configuration: .client(certificateChain: [client.0], privateKey: client.1, trustStore: trust))
    }
}

/// Runs a shell command line (for `openssl` pipelines) with a hard timeout; returns stdout+stderr and wall time.
func shell(_ command: String, timeout: Double) throws -> (output: String, seconds: Double) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("klammer-bench-\(UUID().uuidString).out")
    FileManager.default.createFile(atPath: outFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outFile) }
    let handle = try FileHandle(forWritingTo: outFile)
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    let start = Date()
    try process.run()
    while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(10_000) }
    if process.isRunning { process.terminate(); process.waitUntilExit() }
    let seconds = Date().timeIntervalSince(start)
    try handle.close()
    return ((try? String(contentsOf: outFile, encoding: .utf8)) ?? "", seconds)
}

/// Starts a background process (an `openssl s_server`); the caller terminates it.
func startBackground(_ command: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return process
}

/// Waits until something accepts TCP connections on 127.0.0.1:port.
func waitForListener(port: Int, group: any EventLoopGroup) async throws {
    for _ in 0..<300 {
        if let channel = try? await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get() {
            try? await channel.close()
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw BenchError("nothing listens on port \(port)")
}

func freePort(group: any EventLoopGroup) async throws -> Int {
    let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// User+system CPU seconds consumed so far by process `pid` ("self" for this process), from /proc.
func cpuSeconds(_ pid: String = "self") -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command name: fields[0] is state (field 3), so utime (14) is fields[11], stime (15) fields[12].
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// openssl's own bulk figure: `s_client` sends a file of random bytes to `s_server -Verify 1`, which writes it to a
/// file; timed from the connect until every byte has arrived. Uses /dev/shm when present so the disk is not measured.
/// s_server reads its stdin from a FIFO that stays open, because it closes the connection at stdin EOF.
func opensslBulkScript(directory: String, port: Int, bytes: Int) -> String {
    """
    cd '\(directory)' || exit 1
    d=/dev/shm; [ -d "$d" ] && [ -w "$d" ] || d=.
    f="$d/klammer-tls-bench-$$"
    head -c \(bytes) /dev/urandom > "$f.in"
    mkfifo "$f.fifo"; exec 3<>"$f.fifo"
    openssl s_server -accept 127.0.0.1:\(port) -cert server.pem -key server.key -CAfile ca.pem -Verify 1 -quiet -naccept 1 < "$f.fifo" > "$f.out" 2>/dev/null &
    s=$!
    sleep 1
    start=$(date +%s%N)
    openssl s_client -connect 127.0.0.1:\(port) -cert client.pem -key client.key -CAfile ca.pem -quiet < "$f.in" > /dev/null 2>&1 &
    c=$!
    while [ "$(stat -c %s "$f.out")" -lt \(bytes) ] && [ $(( ($(date +%s%N) - start) / 1000000000 )) -lt 90 ]; do sleep 0.005; done
    end=$(date +%s%N)
    echo "bytes $(stat -c %s "$f.out") ns $((end - start))"
    kill $c $s 2>/dev/null; exec 3>&-
    rm -f "$f.in" "$f.out" "$f.fifo"
    """
}

/// MB/s from the script's "bytes N ns T" line.
func parseOpenSSLBulk(_ output: String) -> Double {
    guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("bytes ") }) else { return 0 }
    let fields = line.split(separator: " ")
    guard fields.count == 4, let bytes = Double(fields[1]), let ns = Double(fields[3]), ns > 0 else { return 0 }
    return bytes / 1e6 / (ns / 1e9)
}
