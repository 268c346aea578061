import Foundation
import KlammerProtocol
import KlammerStore
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension ReceiptLog {
    /// Builds the index by reading the file front to back in 1 MiB chunks. Every `demoteEvery` records the
    /// finished messages accepted before `demoteBefore` move to the cold index, so that replaying months of
    /// traffic never holds it all in full entries (a message's records lie close together in the file, so few are
    /// still open at any point). At the first invalid record the rest is copied to `receipts.klog.<ms>.bad` and the
    /// file is cut there.
    static func replay(
        _ s: inout State, path: String, limits: ProtocolLimits, demoteBefore: UInt64 = 0,
        demoteEvery: Int = 65_536
    ) throws {
        var reader = SequentialFileReader(fd: s.fd, path: path)
        var sinceDemotion = 0
        while try reader.ensure(headerBytes) {
            guard let length = frameBodyLength(reader.peek(headerBytes)), try reader.ensure(headerBytes + length) else { break }
            let frame = reader.peek(headerBytes + length)
            let body = Array(frame.dropFirst(headerBytes))
            guard CRC32C.checksum(body) == bigEndianU32(frame.dropFirst(8).prefix(4)),
                let parsed = try? parseBody(body, limits: limits)
            else { break }
            let receipt = parsed.receipt.receipt
            let ref = RecordRef(
                offset: reader.offset, length: Int32(frame.count), kind: receipt.kind,
                recipient: receipt.recipient, digest: ReceiptDigest(encoded: parsed.encoded))
            apply(&s, ref, receipt, storeID: parsed.storeID, clientMessageID: parsed.clientID, recipients: parsed.recipients)
            reader.consume(frame.count)
            sinceDemotion += 1
            if demoteBefore > 0, sinceDemotion >= demoteEvery {
                demote(&s, acceptedBefore: demoteBefore)
                s.packColdRecords()
                s.shrinkTables()
                sinceDemotion = 0
            }
        }
        demote(&s, acceptedBefore: demoteBefore)
        let valid = reader.offset
        s.fileBytes = valid
        let end = lseek(s.fd, 0, SEEK_END)
        guard end >= 0 else { throw BrokerError(.io, "cannot read the receipt log \(path): \(String(cString: strerror(errno)))") }
        if Int64(end) > valid {
            let bad = path + ".\(Int(Date().timeIntervalSince1970 * 1000)).bad"
            try copyTail(of: s.fd, from: valid, to: bad)
            guard ftruncate(s.fd, off_t(valid)) == 0, fsync(s.fd) == 0 else {
                throw BrokerError(.io, "cannot cut the damaged tail of the receipt log \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Copies the bytes of `fd` from `offset` to its end into a new file at `target` (mode 0600), chunk by chunk.
    private static func copyTail(of fd: Int32, from offset: Int64, to target: String) throws {
        let out = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            throw BrokerError(.io, "cannot save the damaged tail of the receipt log to \(target): \(String(cString: strerror(errno)))")
        }
        defer { closeDescriptor(out) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var at = offset
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(at)) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw BrokerError(.io, "cannot read the receipt log's damaged tail: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            try writeFully(out, chunk[0..<n], path: target)
            at += Int64(n)
        }
        guard fsync(out) == 0 else { throw BrokerError(.io, "cannot fsync \(target): \(String(cString: strerror(errno)))") }
    }

    /// `write(2)` until all of `bytes` is written.
    static func writeFully(_ fd: Int32, _ bytes: ArraySlice<UInt8>, path: String) throws {
        var done = 0
        try bytes.withUnsafeBytes { buf in
            while done < buf.count {
                let n = write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    let code = errno
                    throw ProtocolError(
                        code == ENOSPC ? .storageFull : .storageUnavailable,
                        "cannot write \(path): \(String(cString: strerror(code)))")
                }
                done += n
            }
        }
    }
}

/// Reads a file front to back through a buffer that holds the current record plus at most 1 MiB ahead.
struct SequentialFileReader {
    let fd: Int32
    let path: String
    private var buffer: [UInt8] = []
    private var position = 0
    private var bufferStart: Int64 = 0
    private var atEnd = false

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// File offset of the next unconsumed byte.
    var offset: Int64 { bufferStart + Int64(position) }

    /// Makes `count` bytes available from the current offset; false if the file ends before that.
    mutating func ensure(_ count: Int) throws -> Bool {
        if buffer.count - position >= count { return true }
        if position > 0 {
            buffer.removeSubrange(0..<position)
            bufferStart += Int64(position)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: max(count - buffer.count, 1 << 20))
        while buffer.count < count, !atEnd {
            let at = bufferStart + Int64(buffer.count)
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, off_t(at)) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw BrokerError(.io, "cannot read the receipt log \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { atEnd = true } else { buffer.append(contentsOf: chunk[0..<n]) }
        }
        return buffer.count >= count
    }

    /// The next `count` bytes (call ``ensure(_:)`` first).
    func peek(_ count: Int) -> ArraySlice<UInt8> { buffer[position..<position + count] }

    mutating func consume(_ count: Int) { position += count }
}
