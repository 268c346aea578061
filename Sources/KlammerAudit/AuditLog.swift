public import Foundation
public import KlammerCrypto
import KlammerHex
import Synchronization
import SystemPackage
#if canImport(Glibc)
    import Glibc
#endif

/// The append-only, hash-chained audit log of one broker (SPEC.md §10).
///
/// Each entry is one JSON line carrying the SHA-256 of the previous line, written with one `write` and fsynced
/// before `append` returns. Every `checkpointInterval` entries (and whenever ``checkpoint()`` is called) the
/// broker signs a checkpoint entry with its key, so that the chain up to there can be proven to an auditor who
/// holds only the broker certificate. On open, an interrupted last write (a torn line without its newline) is
/// cut off and kept beside the log; a damaged last complete entry stops the open.
///
/// Appends are serialised by a mutex and block the calling thread for the fsync: call from a thread that may
/// block (the admin API runs its handlers on NIO's blocking thread pool), never from an event loop.
public final class AuditLog: Sendable {
    /// The broker's signing identity for checkpoints.
    public struct Signer: Sendable {
        public let certificate: Certificate
        public let key: PrivateKey

        /// Throws ``KlammerCrypto/CryptoError`` `keyMismatch` unless `key` belongs to `certificate`.
        public init(certificate: Certificate, key: PrivateKey) throws {
            guard key.matches(certificate.publicKey) else {
                throw CryptoError(.keyMismatch, "the audit signing key does not belong to certificate \(certificate.subject)")
            }
            self.certificate = certificate
            self.key = key
        }
    }

    /// What opening found.
    public struct OpenReport: Sendable, Equatable {
        /// Bytes of an interrupted write cut off the end (kept in ``tornTailFile``).
        public var truncatedTailBytes: Int
        /// Where the cut-off bytes were saved, if any.
        public var tornTailFile: String?
        /// The sequence number of the last entry (0 for an empty log).
        public var lastSequence: UInt64
    }

    /// Longest line (entry) written or accepted.
    public static let maximumEntryBytes = 64 * 1024
    /// Most `details` per entry, and longest detail value.
    public static let maximumDetails = 32
    public static let maximumDetailBytes = 4096
    /// Longest actor, action or subject.
    public static let maximumFieldBytes = 512

    private struct State {
        var descriptor: Int32
        var lastSequence: UInt64
        var lastHash: String
        var sinceCheckpoint: Int
        var poisoned: String?
    }

    public let path: String
    public let openReport: OpenReport
    private let signer: Signer?
    private let checkpointInterval: Int
    private let now: @Sendable () -> Date
    private let state: Mutex<State>

    /// Opens (creating, mode 0600) the log at `path`.
    ///
    /// - Parameters:
    ///   - signer: the broker key and certificate for checkpoints; `nil` writes no checkpoints (tests, tools).
    ///   - checkpointInterval: a checkpoint follows after this many entries (≥ 1).
    public init(
        path: String, signer: Signer?, checkpointInterval: Int = 64, now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.path = path
        self.signer = signer
        self.checkpointInterval = max(1, checkpointInterval)
        self.now = now
        let existed = FileManager.default.fileExists(atPath: path)
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw AuditError(
                .io,
                "cannot open the audit log \(path): \(String(cString: strerror(errno))). Check that the data directory exists and is writable."
            )
        }
        do {
            if !existed { try Self.fsyncDirectory(of: path) }
            let recovered = try Self.recover(descriptor: fd, path: path)
            self.openReport = recovered.report
            self.state = Mutex(
                State(
                    descriptor: fd, lastSequence: recovered.report.lastSequence, lastHash: recovered.lastHash,
                    sinceCheckpoint: recovered.lastWasCheckpoint ? 0 : 1, poisoned: nil))
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        state.withLock { state in
            if state.descriptor >= 0 { close(state.descriptor) }
        }
    }

    /// The sequence number of the last entry written (0 if none).
    public var lastSequence: UInt64 { state.withLock { $0.lastSequence } }

    /// Whether an earlier write failed (then every append fails until the daemon restarts).
    public var isPoisoned: Bool { state.withLock { $0.poisoned != nil } }

    /// Appends one entry (and, if due, a checkpoint after it), durable when this returns.
    @discardableResult
    public func append(
        actor: String, action: String, subject: String = "", outcome: AuditEntry.Outcome, details: [String: String] = [:]
    ) throws -> AuditEntry {
        for (name, value) in [("actor", actor), ("action", action), ("subject", subject)] where value.utf8.count > Self.maximumFieldBytes {
            throw AuditError(.limitExceeded, "the audit \(name) is longer than \(Self.maximumFieldBytes) bytes")
        }
        guard details.count <= Self.maximumDetails else {
            throw AuditError(.limitExceeded, "an audit entry holds at most \(Self.maximumDetails) details")
        }
        // Over-long details (e.g. an error message quoting input) are shortened, not refused: the entry matters more.
        let bounded = details.mapValues { value in
            value.utf8.count <= Self.maximumDetailBytes
                ? value : String(decoding: value.utf8.prefix(Self.maximumDetailBytes), as: UTF8.self) + "…"
        }
        return try state.withLock { state in
            let entry = try write(&state) { seq, prev in
                AuditEntry(
                    seq: seq, time: AuditEntry.format(now()), actor: actor, action: action, subject: subject,
                    outcome: outcome, details: bounded, prev: prev, checkpoint: nil)
            }
            state.sinceCheckpoint += 1
            if state.sinceCheckpoint >= checkpointInterval, signer != nil {
                try writeCheckpoint(&state)
            }
            return entry
        }
    }

    /// Appends a broker-signed checkpoint now (no-op without a signer, or if the last entry is one already).
    @discardableResult
    public func checkpoint() throws -> AuditEntry? {
        try state.withLock { state in
            guard signer != nil, state.sinceCheckpoint > 0 else { return nil }
            return try writeCheckpoint(&state)
        }
    }

    @discardableResult
    private func writeCheckpoint(_ state: inout State) throws -> AuditEntry? {
        guard let signer else { return nil }
        let entry = try write(&state) { seq, prev in
            var entry = AuditEntry(
                seq: seq, time: AuditEntry.format(now()), actor: "klammerd", action: AuditEntry.checkpointAction,
                subject: "", outcome: .ok, details: ["covers": "1-\(seq - 1)"], prev: prev, checkpoint: nil)
            let signature: [UInt8]
            do {
                signature = try CMS.signDetached(entry.checkpointStatement, certificate: signer.certificate, key: signer.key)
            } catch {
                throw AuditError(.signing, "cannot sign the audit checkpoint: \(error)")
            }
            entry.checkpoint = .init(signature: Data(signature).base64EncodedString(), certificate: signer.certificate.fingerprint.hex)
            return entry
        }
        state.sinceCheckpoint = 0
        return entry
    }

    /// Builds the next entry with `make(seq, prev)`, writes it as one line and fsyncs. A failed write or fsync
    /// poisons the log: the fsync is never retried (its error may have dropped dirty pages), and recovery on the
    /// next open cuts whatever partial line was left.
    private func write(_ state: inout State, _ make: (UInt64, String) throws -> AuditEntry) throws -> AuditEntry {
        if let reason = state.poisoned {
            throw AuditError(
                .poisoned,
                "the audit log refuses new entries since an earlier write failed (\(reason)); restart klammerd after fixing the disk")
        }
        let entry = try make(state.lastSequence + 1, state.lastHash)
        let line = try entry.encodedLine()
        guard line.count < Self.maximumEntryBytes else {
            throw AuditError(.limitExceeded, "an audit entry would be \(line.count) bytes; the limit is \(Self.maximumEntryBytes)")
        }
        var bytes = line
        bytes.append(UInt8(ascii: "\n"))
        let fd = state.descriptor
        do {
            try FileDescriptor(rawValue: fd).writeAll(bytes)  // retries EINTR and short writes
            guard fsync(fd) == 0 else { throw Errno(rawValue: errno) }
        } catch {
            let reason = "\(error)"
            state.poisoned = reason
            throw AuditError(
                .io, "cannot write the audit log \(path): \(reason). The log refuses further entries until klammerd is restarted.")
        }
        state.lastSequence = entry.seq
        state.lastHash = Hex.encode(SHA256.hash(line))
        return entry
    }

    // MARK: Recovery

    private struct Recovered {
        var report: OpenReport
        var lastHash: String
        var lastWasCheckpoint = true
    }

    /// Finds the last complete line, cutting off (and saving) an interrupted write after it.
    private static func recover(descriptor fd: Int32, path: String) throws -> Recovered {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw AuditError(.io, "cannot stat the audit log \(path): \(String(cString: strerror(errno)))")
        }
        let size = Int(info.st_size)
        if size == 0 {
            return Recovered(
                report: OpenReport(truncatedTailBytes: 0, tornTailFile: nil, lastSequence: 0), lastHash: AuditEntry.genesisHash)
        }
        // The last complete line ends within the last 2 × maximumEntryBytes (a torn tail is shorter than one entry).
        let window = min(size, 2 * maximumEntryBytes + 1)
        let tail = try read(fd, offset: size - window, count: window, path: path)
        let lastNewline = tail.lastIndex(of: UInt8(ascii: "\n"))
        let tornStart = lastNewline.map { $0 + 1 } ?? 0
        var report = OpenReport(truncatedTailBytes: 0, tornTailFile: nil, lastSequence: 0)
        if tornStart < tail.count {
            if lastNewline == nil && window < size {
                throw AuditError(
                    .corrupt,
                    "the last \(window) bytes of the audit log \(path) hold no line break; the file is damaged. Run 'klammerctl audit verify --file \(path)' and move it aside to start a new log."
                )
            }
            let torn = Array(tail[tornStart...])
            let aside = "\(path).torn-\(Int(Date().timeIntervalSince1970 * 1000))"
            let saved = FileManager.default.createFile(atPath: aside, contents: Data(torn), attributes: [.posixPermissions: 0o600])
            guard ftruncate(fd, off_t(size - torn.count)) == 0, fsync(fd) == 0 else {
                throw AuditError(
                    .io, "cannot cut the interrupted last write off the audit log \(path): \(String(cString: strerror(errno)))")
            }
            report.truncatedTailBytes = torn.count
            report.tornTailFile = saved ? aside : nil
        }
        guard let lastNewline else {
            // Only a torn first line: the log is empty now.
            return Recovered(report: report, lastHash: AuditEntry.genesisHash)
        }
        let lineStart = (tail[..<lastNewline].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
        if lineStart == 0 && window < size {
            throw AuditError(
                .corrupt,
                "the last entry of the audit log \(path) is longer than \(maximumEntryBytes) bytes; the file is damaged. Run 'klammerctl audit verify --file \(path)'."
            )
        }
        let line = Array(tail[lineStart..<lastNewline])
        let entry: AuditEntry
        do {
            entry = try AuditEntry.decode(line: line)
        } catch {
            throw AuditError(
                .corrupt,
                "the last entry of the audit log \(path) cannot be parsed (\(error)), so the chain cannot be continued. Run 'klammerctl audit verify --file \(path)' and keep the file for investigation; move it aside to start a new log."
            )
        }
        report.lastSequence = entry.seq
        return Recovered(
            report: report, lastHash: Hex.encode(SHA256.hash(line)),
            lastWasCheckpoint: entry.action == AuditEntry.checkpointAction)
    }

    static func read(_ fd: Int32, offset: Int, count: Int, path: String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io, "cannot read the audit log \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            done += n
        }
        return Array(buffer[..<done])
    }

    private static func fsyncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditError(.io, "cannot open directory \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw AuditError(.io, "cannot fsync directory \(directory): \(String(cString: strerror(errno)))") }
    }
}
