import Foundation

/// Searches every regular file under a directory for 32-byte samples (pieces of documents' plaintext), streaming,
/// so a data directory holding GiB blobs is scanned in seconds and never loaded whole.
///
/// Any occurrence of a 32-byte sample at file offset p contains the 16 bytes at the first multiple of 16 at or
/// after p (it lies within p…p+15, so those 16 bytes end by p+31). So only file offsets that are multiples of 16 are
/// looked at: each 16-byte window there is looked up among all 17 16-byte windows (offsets 0…16) of all samples
/// (through a bit filter first), and a hit is confirmed by comparing the whole sample.
struct PlaintextScan {
    struct Result {
        /// Indices into `samples` that occur somewhere, with one file each.
        var found: [Int: String] = [:]
        var files = 0
        var bytes: UInt64 = 0
    }

    private struct Window: Hashable { let low: UInt64, high: UInt64 }
    let samples: [[UInt8]]
    private var windows: [Window: [(sample: Int, offset: Int)]] = [:]
    private var filter = [UInt64](repeating: 0, count: 1 << 14)  // 2^20 bits
    static let chunk = 8 << 20

    init(samples: [[UInt8]]) {
        precondition(samples.allSatisfy { $0.count == 32 }, "plaintext samples are 32 bytes")
        self.samples = samples
        for (index, sample) in samples.enumerated() {
            sample.withUnsafeBytes { raw in
                for offset in 0...16 {
                    let window = Window(
                        low: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self),
                        high: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                    windows[window, default: []].append((index, offset))
                    let bit = Self.bit(window.low)
                    filter[bit >> 6] |= 1 << UInt64(bit & 63)
                }
            }
        }
    }

    private static func bit(_ value: UInt64) -> Int { Int((value &* 0x9E37_79B9_7F4A_7C15) >> 44) }

    /// Scans every regular file below `directory` (recursively; sockets and the like are skipped).
    func scan(_ directory: String) throws -> Result {
        var result = Result()
        guard let walker = FileManager.default.enumerator(atPath: directory) else { throw IntegrationError("cannot list \(directory)") }
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            // A file may vanish while the broker runs (a blob deleted, a segment compacted): skip it then.
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            result.files += 1
            try scan(fd: fd, size: Int(info.st_size), path: path, into: &result)
        }
        return result
    }

    private func scan(fd: Int32, size: Int, path: String, into result: inout Result) throws {
        guard size >= 32 else { return }
        var buffer = [UInt8](repeating: 0, count: Self.chunk + 64)
        var start = 0
        while start + 16 <= size {
            let readStart = max(0, start - 32), readEnd = min(size, start + Self.chunk + 32)
            var have = 0
            while have < readEnd - readStart {
                let n = buffer.withUnsafeMutableBytes {
                    pread(fd, $0.baseAddress! + have, readEnd - readStart - have, off_t(readStart + have))
                }
                if n < 0 { throw IntegrationError("cannot read \(path): errno \(errno)") }
                if n == 0 { break }  // truncated meanwhile: scan what is there
                have += n
            }
            let available = readStart + have
            result.bytes += UInt64(max(0, min(available, start + Self.chunk) - start))
            buffer.withUnsafeBytes { raw in
                var q = start
                let last = min(start + Self.chunk, available) - 16
                while q <= last {
                    let low = raw.loadUnaligned(fromByteOffset: q - readStart, as: UInt64.self)
                    let bit = Self.bit(low)
                    if filter[bit >> 6] & (1 << UInt64(bit & 63)) != 0 {
                        let window = Window(low: low, high: raw.loadUnaligned(fromByteOffset: q - readStart + 8, as: UInt64.self))
                        for (sample, offset) in windows[window] ?? [] {
                            let p = q - offset
                            guard p >= readStart, p + 32 <= available, result.found[sample] == nil else { continue }
                            let equal = samples[sample].withUnsafeBytes {
                                memcmp($0.baseAddress!, raw.baseAddress! + (p - readStart), 32) == 0
                            }
                            if equal { result.found[sample] = path }
                        }
                    }
                    q += 16
                }
            }
            start += Self.chunk
        }
    }
}
