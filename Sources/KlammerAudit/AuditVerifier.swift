import Foundation
public import KlammerCrypto
import KlammerHex
#if canImport(Glibc)
    import Glibc
#endif

/// The result of checking an audit log from its first line to its last.
public struct AuditVerification: Sendable, Equatable, Codable {
    /// What is wrong at the first bad place.
    public struct Problem: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// A line is not a valid entry (not JSON, missing fields, too long).
            case malformed
            /// An entry's bytes no longer match the hash its successor recorded: it (or that `prev`) was edited.
            case edited
            /// One or more sequence numbers are absent: entries were removed.
            case missing
            /// Entries appear out of order, or a sequence number repeats.
            case reordered
            /// A checkpoint's signature does not verify with the broker certificate, or names another certificate.
            case badCheckpoint
        }

        public var kind: Kind
        /// 1-based line of the first bad entry.
        public var line: Int
        /// The sequence number the first bad entry has (or should have had).
        public var sequence: UInt64
        public var message: String

        public init(kind: Kind, line: Int, sequence: UInt64, message: String) {
            self.kind = kind
            self.line = line
            self.sequence = sequence
            self.message = message
        }
    }

    /// Complete lines read.
    public var entries: Int
    /// Checkpoints whose signature verified (0 if no broker certificate was given).
    public var verifiedCheckpoints: Int
    /// Checkpoints present.
    public var checkpoints: Int
    /// Sequence number of the last valid entry.
    public var lastSequence: UInt64
    /// SHA-256 (hex) of the last valid line: compare it with a copy kept elsewhere to detect truncation.
    public var lastHash: String
    /// Sequence number of the last checkpoint that verified (0 if none).
    public var lastVerifiedCheckpoint: UInt64
    /// Entries after the last verified checkpoint: protected by the chain only, not yet by a signature.
    public var unanchoredEntries: Int
    /// Bytes after the last newline (an interrupted or in-progress write); not an entry.
    public var tornTailBytes: Int
    /// The first problem, or nil if the log is intact.
    public var problem: Problem?

    public var isIntact: Bool { problem == nil }
}

/// Checks an audit log offline: sequence numbers, the hash chain and the checkpoint signatures (SPEC.md §10.3).
public enum AuditVerifier {
    /// Reads `path` from start to end and reports the first bad entry.
    ///
    /// - Parameter brokerCertificate: the broker certificate checkpoints must verify with. Without it, checkpoints
    ///   are counted but not checked (the chain alone still shows edits, removals and reordering).
    public static func verify(path: String, brokerCertificate: Certificate?) throws -> AuditVerification {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AuditError(.io, "cannot open the audit log \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var lines = LineReader(fd: fd, path: path)
        var report = AuditVerification(
            entries: 0, verifiedCheckpoints: 0, checkpoints: 0, lastSequence: 0, lastHash: AuditEntry.genesisHash,
            lastVerifiedCheckpoint: 0, unanchoredEntries: 0, tornTailBytes: 0, problem: nil)
        var lineNumber = 0
        var previousLine: [UInt8]? = nil

        func fail(_ kind: AuditVerification.Problem.Kind, line: Int, sequence: UInt64, _ message: String) -> AuditVerification {
            var result = report
            result.problem = .init(kind: kind, line: line, sequence: sequence, message: message)
            return result
        }

        while let next = try lines.next() {
            lineNumber += 1
            let line: [UInt8]
            switch next {
            case .tooLong:
                return fail(
                    .malformed, line: lineNumber, sequence: report.lastSequence + 1,
                    "line \(lineNumber) is longer than \(AuditLog.maximumEntryBytes) bytes")
            case .torn(let count):
                report.tornTailBytes = count
                return report
            case .line(let bytes):
                line = bytes
            }
            let expected = report.lastSequence + 1
            let entry: AuditEntry
            do {
                entry = try AuditEntry.decode(line: line)
            } catch {
                return fail(
                    .malformed, line: lineNumber, sequence: expected,
                    "line \(lineNumber) is not an audit entry (\(error)); it was damaged or edited")
            }
            if entry.seq != expected {
                if entry.seq < expected {
                    return fail(
                        .reordered, line: lineNumber, sequence: entry.seq,
                        "line \(lineNumber) holds entry \(entry.seq) after entry \(report.lastSequence): entries were reordered or duplicated"
                    )
                }
                // A gap: the missing entry may have been moved further down (reordered) or deleted.
                if try lines.peekSequence() == expected {
                    return fail(
                        .reordered, line: lineNumber, sequence: entry.seq,
                        "line \(lineNumber) holds entry \(entry.seq) before entry \(expected): entries were reordered")
                }
                let range = expected == entry.seq - 1 ? "\(expected)" : "\(expected)–\(entry.seq - 1)"
                return fail(
                    .missing, line: lineNumber, sequence: expected,
                    "entry \(range) is missing before line \(lineNumber) (entry \(entry.seq)): entries were removed")
            }
            if entry.prev != report.lastHash {
                if previousLine == nil {
                    return fail(
                        .edited, line: lineNumber, sequence: entry.seq,
                        "the first entry's prev is not the genesis hash (64 zeros): it was edited, or the beginning of the log was removed")
                }
                return fail(
                    .edited, line: lineNumber - 1, sequence: entry.seq - 1,
                    "entry \(entry.seq - 1) (line \(lineNumber - 1)) does not match the hash recorded in entry \(entry.seq): one of them was edited after it was written"
                )
            }
            if entry.action == AuditEntry.checkpointAction {
                report.checkpoints += 1
                guard let checkpoint = entry.checkpoint, let signature = Data(base64Encoded: checkpoint.signature) else {
                    return fail(.badCheckpoint, line: lineNumber, sequence: entry.seq, "checkpoint \(entry.seq) carries no signature")
                }
                if let brokerCertificate {
                    guard checkpoint.certificate == brokerCertificate.fingerprint.hex else {
                        return fail(
                            .badCheckpoint, line: lineNumber, sequence: entry.seq,
                            "checkpoint \(entry.seq) names certificate \(checkpoint.certificate), not the broker certificate \(brokerCertificate.fingerprint.hex)"
                        )
                    }
                    do {
                        try CMS.verifyDetached(signature: Array(signature), content: entry.checkpointStatement, signer: brokerCertificate)
                    } catch {
                        return fail(
                            .badCheckpoint, line: lineNumber, sequence: entry.seq,
                            "the signature of checkpoint \(entry.seq) does not verify with the broker certificate: \(error)")
                    }
                    report.verifiedCheckpoints += 1
                    report.lastVerifiedCheckpoint = entry.seq
                }
            }
            report.entries += 1
            report.lastSequence = entry.seq
            report.lastHash = Hex.encode(SHA256.hash(line))
            report.unanchoredEntries = Int(entry.seq - report.lastVerifiedCheckpoint)
            previousLine = line
        }
        return report
    }
}

/// Reads newline-terminated lines of at most ``AuditLog/maximumEntryBytes`` with a one-line lookahead.
private struct LineReader {
    enum Item {
        case line([UInt8])
        case tooLong
        case torn(Int)
    }

    let fd: Int32
    let path: String
    var buffer: [UInt8] = []
    var start = 0
    var atEnd = false
    var peeked: Item?? = nil

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    mutating func next() throws -> Item? {
        if let peeked {
            self.peeked = nil
            return peeked
        }
        return try read()
    }

    /// The sequence number of the next line, if it parses.
    mutating func peekSequence() throws -> UInt64? {
        if peeked == nil { peeked = .some(try read()) }
        guard case .some(.some(.line(let bytes))) = peeked else { return nil }
        return try? AuditEntry.decode(line: bytes).seq
    }

    private mutating func read() throws -> Item? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if line.count > AuditLog.maximumEntryBytes { return .tooLong }
                return .line(line)
            }
            if buffer.count - start > AuditLog.maximumEntryBytes { return .tooLong }
            if atEnd {
                let rest = buffer.count - start
                start = buffer.count
                return rest > 0 ? .torn(rest) : nil
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io, "cannot read the audit log \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { atEnd = true } else { buffer += chunk[..<n] }
        }
    }
}
