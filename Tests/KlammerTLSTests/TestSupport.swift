import Foundation
import KlammerCrypto
import KlammerTLS
import KlammerTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A temporary directory removed when the value is deinitialised.
typealias TempDir = TemporaryDirectory

/// A leaf certificate with its key (the shared test PKI's leaf).
typealias Identity = TestLeaf

/// Test PKI generated at run time (KlammerTestSupport's `TestCA`): one CA, a server and a client identity. Shared
/// because key generation costs time.
enum PKI {
    static let ca = try! TestCA("Klammer TLS Test CA", organization: "Land Berlin").authority
    static let server = try! issue(by: ca, "broker.test", usage: .server)
    static let client = try! issue(by: ca, "participant-a", usage: .client)
    static let otherCA = try! TestCA("Foreign CA").authority
    static var trust: TrustStore { TestCA(ca).trustStore }

    /// Every TLS test leaf names the loopback host and address, valid for a day unless given.
    static func issue(
        by ca: CertificateAuthority, _ name: String, usage: CertificateAuthority.Usage,
        notBefore: Date = .now - 300, notAfter: Date = .now + 86400, kind: KeyKind = .p256
    ) throws -> Identity {
        try TestCA(ca).issue(
            name, subjectAlternativeNames: TestCA.loopbackNames, usage: usage, kind: kind,
            notBefore: notBefore, notAfter: notAfter)
    }

    static func serverContext(
        _ identity: Identity = server, trust: TrustStore = trust, configure: (inout TLSConfiguration) -> Void = { _ in }
    ) throws -> TLSContext {
        var config = TLSConfiguration.server(certificateChain: [identity.certificate], privateKey: identity.key, trustStore: trust)
        configure(&config)
        return try TLSContext(configuration: config)
    }

    static func clientContext(
        _ identity: Identity = client, trust: TrustStore = trust, configure: (inout TLSConfiguration) -> Void = { _ in }
    ) throws -> TLSContext {
        var config = TLSConfiguration.client(certificateChain: [identity.certificate], privateKey: identity.key, trustStore: trust)
        configure(&config)
        return try TLSContext(configuration: config)
    }

    /// Writes CA, server and client PEM files for the openssl CLI.
    static func writeFiles(to dir: TempDir, client: Identity = client) throws {
        try dir.write("ca.pem", ca.certificate.pemString)
        try dir.write("server.pem", server.certificate.pemString)
        try dir.write("server.key", server.key.pkcs8PEM)
        try dir.write("client.pem", client.certificate.pemString)
        try dir.write("client.key", client.key.pkcs8PEM)
    }
}

/// Captures log lines so tests can assert that a refusal names its reason.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }

    var logger: Logger {
        var logger = Logger(label: "klammer.tls.test") { _ in Handler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    func append(_ line: String) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            capture.append("[\(event.level)] \(event.message)")
        }
    }
}

/// What a test handler saw on one channel.
final class Recorder: Sendable {
    struct State {
        var received: [UInt8] = []
        var events: [TLSEvent] = []
        var errors: [any Error] = []
        var inactive = false
        var active = false
        /// The server turned autoRead off after authorizing (`pauseReads`).
        var readsPaused = false
        var channel: (any Channel)?
    }
    private let state = Mutex(State())
    func with<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
    var received: [UInt8] { with { $0.received } }
    var receivedString: String { String(decoding: received, as: UTF8.self) }
    var tlsErrors: [TLSError] { with { $0.errors.compactMap { $0 as? TLSError } } }
    var isInactive: Bool { with { $0.inactive } }
    var identity: PeerIdentity? {
        with { state in
            state.events.lazy.compactMap { if case .authorized(let id) = $0 { id } else { nil } }.first
        }
    }
    var sawHandshakeCompleted: Bool { with { $0.events.contains { if case .handshakeCompleted = $0 { true } else { false } } } }
}

/// Records everything and optionally echoes.
final class RecordingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let recorder: Recorder
    let echo: Bool
    let pauseReadsWhenAuthorized: Bool
    init(_ recorder: Recorder, echo: Bool = false, pauseReadsWhenAuthorized: Bool = false) {
        self.recorder = recorder; self.echo = echo; self.pauseReadsWhenAuthorized = pauseReadsWhenAuthorized
    }
    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        recorder.with {
            $0.active = true; $0.channel = channel
        }
        context.fireChannelActive()
    }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        recorder.with { $0.received += buffer.readableBytesView }
        if echo { context.writeAndFlush(wrapOutboundOut(buffer), promise: nil) }
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSEvent {
            recorder.with { $0.events.append(event) }
            if pauseReadsWhenAuthorized, case .authorized = event {
                let recorder = recorder
                context.channel.setOption(ChannelOptions.autoRead, value: false).whenSuccess { recorder.with { $0.readsPaused = true } }
            }
        }
        context.fireUserInboundEventTriggered(event)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        recorder.with { $0.errors.append(error) }
    }
    func channelInactive(context: ChannelHandlerContext) {
        recorder.with { $0.inactive = true }
        context.fireChannelInactive()
    }
}

let testGroup = MultiThreadedEventLoopGroup(numberOfThreads: 2)

/// A Klammer TLS server on 127.0.0.1 with an ephemeral port; every accepted connection gets its own Recorder.
final class TestServer: Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    init(context: TLSContext, authorizer: PeerAuthorizer = .acceptAll, logger: Logger, echo: Bool = false, pauseReads: Bool = false)
        async throws
    {
        let holder = RecorderSink()
        self.channel = try await ServerBootstrap(group: testGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let recorder = Recorder()
                holder.add(recorder)
                return configureTLSServerPipeline(channel: channel, context: context, authorizer: authorizer, logger: logger)
                    .flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(
                            RecordingHandler(recorder, echo: echo, pauseReadsWhenAuthorized: pauseReads))
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.sink = holder
    }
    private let sink: RecorderSink
    var allRecorders: [Recorder] { sink.all }
    func close() async { try? await channel.close() }
}

final class RecorderSink: Sendable {
    private let list = Mutex<[Recorder]>([])
    func add(_ r: Recorder) { list.withLock { $0.append(r) } }
    var all: [Recorder] { list.withLock { $0 } }
}

/// Connects our TLS client to 127.0.0.1:port.
func connectClient(port: Int, context: TLSContext, authorizer: PeerAuthorizer = .acceptAll, logger: Logger, recorder: Recorder) async throws
    -> any Channel
{
    try await ClientBootstrap(group: testGroup)
        .channelInitializer { channel in
            configureTLSClientPipeline(channel: channel, context: context, authorizer: authorizer, logger: logger).flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(RecordingHandler(recorder))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
@discardableResult
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// Runs the `openssl` CLI with a hard timeout; stdout/stderr go to files so a chatty child never blocks.
final class OpenSSLProcess: @unchecked Sendable {
    let process = Process()
    private let stdinPipe = Pipe()
    private let outPath: String
    private let errPath: String

    init(_ arguments: [String], in dir: TempDir) throws {
        let id = UUID().uuidString
        outPath = dir.path("out-\(id)")
        errPath = dir.path("err-\(id)")
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = dir.url
        process.standardInput = stdinPipe
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
    }

    func send(_ text: String) { try? stdinPipe.fileHandleForWriting.write(contentsOf: Data(text.utf8)) }
    func closeInput() { try? stdinPipe.fileHandleForWriting.close() }
    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Waits for exit (killing the process after `timeout`); returns the exit status.
    @discardableResult
    func finish(timeout: Duration = .seconds(10)) async -> Int32 {
        closeInput()
        if !(await eventually(timeout: timeout, { !process.isRunning })) {
            process.terminate()
            _ = await eventually(timeout: .seconds(2)) { !process.isRunning }
        }
        return process.isRunning ? -1 : process.terminationStatus
    }

    /// Runs to completion.
    static func run(_ arguments: [String], in dir: TempDir, input: String? = nil, timeout: Duration = .seconds(20)) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let p = try OpenSSLProcess(arguments, in: dir)
        if let input { p.send(input) }
        let status = await p.finish(timeout: timeout)
        return (status, p.stdout, p.stderr)
    }
}
