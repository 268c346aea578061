internal import COpenSSL
internal import COpenSSLShims
internal import Foundation
import KlammerHex

/// Small, allocation-safe helpers at the C boundary. Every BIO/object created here is freed here.
enum OpenSSLHelpers {
    /// Runs `body` with a read-only memory BIO over `bytes`. The BIO is freed afterwards and must not escape.
    static func withReadBIO<R>(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> R) throws -> R {
        try bytes.withUnsafeBytes { raw in
            // BIO_new_mem_buf does not copy; the buffer outlives the BIO because both are scoped here.
            guard let bio = BIO_new_mem_buf(raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count)) else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a memory BIO; the process may be out of memory")
            }
            defer { BIO_free(bio) }
            return try body(bio)
        }
    }

    /// Runs `body` with a fresh writable memory BIO and returns everything written to it.
    static func writeToBIO(_ what: String, _ body: (OpaquePointer) -> Int32) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a memory BIO; the process may be out of memory")
        }
        defer { BIO_free(bio) }
        guard body(bio) > 0 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not encode \(what)")
        }
        var data: UnsafePointer<CChar>? = nil
        let count = klammer_bio_get_mem_data(bio, &data)
        guard let data, count > 0 else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// DER-encodes with an `i2d_*`-style function (first call sizes, second call writes).
    static func i2d(_ what: String, _ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) throws -> [UInt8] {
        let length = encode(nil)
        guard length > 0 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not DER-encode \(what)")
        }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return encode(&cursor)
        }
        guard written == length else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL DER-encoded \(what) inconsistently")
        }
        return out
    }

    /// Runs a `d2i_*`-style decoder over `bytes`; fails unless all bytes are consumed.
    static func d2i<T>(_ bytes: [UInt8], _ decode: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> T?) -> T? {
        bytes.withUnsafeBufferPointer { buffer -> T? in
            guard let base = buffer.baseAddress, buffer.count > 0 else { return nil }
            var cursor: UnsafePointer<UInt8>? = base
            let value = decode(&cursor, buffer.count)
            return value
        }
    }

    /// The RFC 2253 one-line form of an X509_NAME (UTF-8 kept readable), e.g. `CN=Bezirksamt,O=Land Berlin,C=DE`.
    static func nameString(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        let bytes =
            (try? writeToBIO("a distinguished name") { bio in
                // X509_NAME_print_ex returns the number of bytes written; 0 is valid for an empty name.
                X509_NAME_print_ex(bio, name, 0, klammer_xn_flags_rfc2253_utf8()) >= 0 ? 1 : 0
            }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Converts an ASN1_TIME (UTCTime or GeneralizedTime) to a Date.
    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var tm = tm()
        guard ASN1_TIME_to_tm(time, &tm) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&tm)))
    }

    /// A new ASN1_TIME for `date` (whole seconds; UTCTime before 2050, GeneralizedTime after, as RFC 5280 wants).
    /// The caller frees it with ASN1_TIME_free.
    static func makeTime(_ date: Date) throws -> UnsafeMutablePointer<ASN1_TIME> {
        guard let time = ASN1_TIME_set(nil, time_t(date.timeIntervalSince1970.rounded(.down))) else {
            throw CryptoError.openSSL(.invalidParameter, "cannot represent \(date.iso8601) as an ASN.1 time")
        }
        return time
    }

    /// Canonical lowercase hex of an ASN1_INTEGER (minimal even length, "00" for zero).
    static func serialHex(_ integer: UnsafePointer<ASN1_INTEGER>?) -> String {
        guard let integer, let bn = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
        defer { BN_free(bn) }
        let count = (Int(BN_num_bits(bn)) + 7) / 8
        if count == 0 { return "00" }
        var bytes = [UInt8](repeating: 0, count: count)
        _ = BN_bn2bin(bn, &bytes)
        let hex = Hex.encode(bytes)
        return ASN1_STRING_type(integer) == V_ASN1_NEG_INTEGER ? "-" + hex : hex
    }

    /// A new ASN1_INTEGER from big-endian bytes (caller frees with ASN1_INTEGER_free).
    static func makeInteger(_ bytes: [UInt8]) throws -> UnsafeMutablePointer<ASN1_INTEGER> {
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a big number")
        }
        defer { BN_free(bn) }
        guard let integer = BN_to_ASN1_INTEGER(bn, nil) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot convert a serial number to ASN.1")
        }
        return integer
    }

    /// Reads a whole file, refusing files above `limit` bytes.
    static func readFile(_ path: String, limit: Int, what: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: path)
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw CryptoError(.fileNotFound, "\(what) file \(path) does not exist or is not readable; check the path and permissions")
        }
        if let size = attributes[.size] as? NSNumber {
            try InputLimits.check(size.intValue, limit: limit, what: "\(what) file \(path)")
        }
        do {
            let data = try Data(contentsOf: url)
            try InputLimits.check(data.count, limit: limit, what: "\(what) file \(path)")
            return [UInt8](data)
        } catch let error as CryptoError {
            throw error
        } catch {
            throw CryptoError(
                .fileNotFound, "cannot read \(what) file \(path) (\(error.localizedDescription)); check the path and permissions")
        }
    }

    /// True if the bytes look like PEM (contain a `-----BEGIN ` armour line) rather than DER.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard bytes.count >= marker.count else { return false }
        // Only the first 64 KiB: a PEM file starts with its armour, possibly after a few comment lines.
        let window = bytes.prefix(1 << 16)
        var i = window.startIndex
        while i + marker.count <= window.endIndex {
            if window[i] == marker[0] && Array(window[i..<(i + marker.count)]) == marker { return true }
            i += 1
        }
        return false
    }
}

extension Date {
    /// ISO 8601 in UTC with seconds, e.g. `2026-01-01T00:00:00Z`, for error messages.
    var iso8601: String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: self)
    }
}
