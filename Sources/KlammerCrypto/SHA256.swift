internal import COpenSSL

/// SHA-256 (FIPS 180-4) via OpenSSL.
public enum SHA256 {
    /// Digest length in bytes.
    public static let byteCount = 32

    /// The SHA-256 digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash(raw: $0) }
    }

    /// The SHA-256 digest of any byte sequence (e.g. `Data`).
    public static func hash(_ data: some Sequence<UInt8>) -> [UInt8] {
        data.withKlammerBytes { hash(raw: $0) }
    }

    static func hash(raw: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let ok = EVP_Digest(raw.baseAddress, raw.count, &digest, &length, FetchedDigest.sha256.pointer, nil)
        // SHA-256 over memory cannot fail short of a broken OpenSSL installation.
        precondition(ok == 1 && length == 32, "OpenSSL SHA-256 failed")
        return digest
    }

    /// Incremental SHA-256 for large or streamed inputs:
    /// ```swift
    /// let hasher = SHA256.Hasher()
    /// hasher.update(chunk1); hasher.update(chunk2)
    /// let digest = hasher.finalize()
    /// ```
    /// Not thread-safe (mutable state); use one hasher per stream. After ``finalize()`` the hasher starts over.
    public final class Hasher {
        private let context: OpaquePointer

        public init() {
            guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL could not allocate a digest context") }
            self.context = context
            reset()
        }

        deinit { EVP_MD_CTX_free(context) }

        private func reset() {
            precondition(EVP_DigestInit_ex(context, FetchedDigest.sha256.pointer, nil) == 1, "OpenSSL SHA-256 init failed")
        }

        /// Feeds more bytes.
        public func update(_ data: some Sequence<UInt8>) {
            data.withKlammerBytes { raw in
                precondition(EVP_DigestUpdate(context, raw.baseAddress, raw.count) == 1, "OpenSSL SHA-256 update failed")
            }
        }

        /// Returns the digest of everything fed so far and resets the hasher for a new stream.
        public func finalize() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: SHA256.byteCount)
            var length: UInt32 = 0
            precondition(EVP_DigestFinal_ex(context, &digest, &length) == 1 && length == 32, "OpenSSL SHA-256 final failed")
            reset()
            return digest
        }
    }
}

/// A digest implementation fetched once from the default provider (an implicit fetch per call would cost
/// a provider lookup every time).
///
/// `@unchecked Sendable`: a fetched EVP_MD is immutable and OpenSSL documents it as shareable across threads.
final class FetchedDigest: @unchecked Sendable {
    let pointer: OpaquePointer

    private init(_ name: String) {
        guard let md = EVP_MD_fetch(nil, name, nil) else { fatalError("OpenSSL provides no \(name); check the OpenSSL installation") }
        pointer = md
    }

    static let sha256 = FetchedDigest("SHA256")
    static let sha384 = FetchedDigest("SHA384")
}
