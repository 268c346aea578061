internal import Foundation

/// Splits a BER/DER CMS AuthEnvelopedData file (RFC 5083) into the structure without its encrypted content
/// (re-encoded, small: recipient infos, algorithms, MAC) and the encrypted content octets, which it copies to a file.
///
/// OpenSSL parses a CMS structure whole, so decrypting an attached multi-GiB ciphertext would hold it in memory.
/// With the content detached, `CMS_decrypt` streams it from a BIO instead: memory stays flat whatever the size.
/// Only the outer containers are re-encoded (definite lengths); every other element is copied verbatim.
struct AuthEnvelopedSplitter {
    /// Limit for each element kept in memory (recipient infos, attributes, MAC).
    static let maxElementBytes = 4 << 20
    /// Nesting depth of constructed OCTET STRINGs and indefinite-length elements.
    static let maxDepth = 16
    /// DER of the content type OID id-ct-authEnvelopedData (1.2.840.113549.1.9.16.1.23).
    static let authEnvelopedDataOID: [UInt8] = [0x06, 0x0B, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01, 0x17]

    enum Length: Equatable {
        case definite(Int)
        case indefinite
    }

    struct Header {
        var tag: UInt8
        var length: Length
        var raw: [UInt8]
        /// Offset of the first content byte.
        var contentStart: Int
    }

    private let input: FileHandle
    private var buffer: [UInt8] = []
    private var index = 0
    private var atEOF = false
    /// Bytes consumed from the start of the file.
    private(set) var offset = 0

    init(input: FileHandle) {
        self.input = input
    }

    static func malformed(_ what: String) -> CryptoError {
        CryptoError(.invalidEncoding, "the encrypted payload is not a well-formed CMS AuthEnvelopedData: \(what)")
    }

    /// Reads the whole file: copies the encrypted content to `content` and returns the DER structure without it.
    mutating func split(content: FileHandle) throws -> [UInt8] {
        let contentInfo = try header()
        guard contentInfo.tag == 0x30 else { throw Self.malformed("ContentInfo is not a SEQUENCE") }
        let oid = try whole(header())
        guard oid == Self.authEnvelopedDataOID else { throw Self.malformed("the content type is not id-ct-authEnvelopedData") }
        let explicit = try header()
        guard explicit.tag == 0xA0 else { throw Self.malformed("missing [0] content") }
        let data = try header()
        guard data.tag == 0x30 else { throw Self.malformed("AuthEnvelopedData is not a SEQUENCE") }

        var parts: [UInt8] = []
        let version = try whole(header())
        guard version.first == 0x02 else { throw Self.malformed("missing version") }
        parts += version
        var next = try header()
        if next.tag == 0xA0 {  // originatorInfo
            parts += try whole(next)
            next = try header()
        }
        guard next.tag == 0x31 else { throw Self.malformed("missing recipientInfos") }
        parts += try whole(next)

        let info = try header()
        guard info.tag == 0x30 else { throw Self.malformed("authEncryptedContentInfo is not a SEQUENCE") }
        var infoParts = try whole(header())  // content type
        infoParts += try whole(header())  // contentEncryptionAlgorithm
        guard try !atEnd(of: info) else {
            throw Self.malformed("the encrypted content is detached; Klammer payloads carry it")
        }
        let encrypted = try header()
        switch encrypted.tag {
        case 0x80:
            guard case .definite(let count) = encrypted.length else { throw Self.malformed("primitive content with indefinite length") }
            try copy(count, to: content)
        case 0xA0:
            try copyOctets(of: encrypted, to: content, depth: 0)
        default:
            throw Self.malformed("unexpected element 0x\(String(encrypted.tag, radix: 16)) in authEncryptedContentInfo")
        }
        guard try atEnd(of: info) else { throw Self.malformed("data after the encrypted content") }
        parts += Self.encode(0x30, infoParts)

        while try !atEnd(of: data) {
            let element = try header()
            guard [0xA1, 0x04, 0xA2].contains(element.tag) else {  // authAttrs, mac, unauthAttrs
                throw Self.malformed("unexpected element 0x\(String(element.tag, radix: 16)) in AuthEnvelopedData")
            }
            parts += try whole(element)
        }
        guard try atEnd(of: explicit), try atEnd(of: contentInfo) else { throw Self.malformed("data after AuthEnvelopedData") }
        guard try peek() == nil else { throw Self.malformed("bytes after the CMS structure") }
        return Self.encode(0x30, Self.authEnvelopedDataOID + Self.encode(0xA0, Self.encode(0x30, parts)))
    }

    // MARK: - BER

    mutating func header() throws -> Header {
        var raw: [UInt8] = []
        guard let tag = try nextByte() else { throw Self.malformed("unexpected end of file") }
        raw.append(tag)
        guard tag & 0x1F != 0x1F else { throw Self.malformed("high tag numbers are not used in CMS") }
        guard let first = try nextByte() else { throw Self.malformed("unexpected end of file") }
        raw.append(first)
        let length: Length
        if first < 0x80 {
            length = .definite(Int(first))
        } else if first == 0x80 {
            guard tag & 0x20 != 0 else { throw Self.malformed("indefinite length on a primitive element") }
            length = .indefinite
        } else {
            let count = Int(first & 0x7F)
            guard count <= 6 else { throw Self.malformed("length of \(count) bytes") }
            var value = 0
            for _ in 0..<count {
                guard let b = try nextByte() else { throw Self.malformed("unexpected end of file") }
                raw.append(b)
                value = value << 8 | Int(b)
            }
            length = .definite(value)
        }
        return Header(tag: tag, length: length, raw: raw, contentStart: offset)
    }

    /// True (consuming the end-of-contents octets of an indefinite element) if the element's content is finished.
    mutating func atEnd(of header: Header) throws -> Bool {
        switch header.length {
        case .definite(let count):
            if offset > header.contentStart + count { throw Self.malformed("an element overruns its container") }
            return offset == header.contentStart + count
        case .indefinite:
            guard try peek() == 0x00 else { return false }
            guard try nextByte() == 0x00, try nextByte() == 0x00 else { throw Self.malformed("bad end-of-contents octets") }
            return true
        }
    }

    /// The complete element (header and content) as bytes, for elements small enough to keep.
    mutating func whole(_ header: Header, depth: Int = 0) throws -> [UInt8] {
        guard depth < Self.maxDepth else { throw Self.malformed("elements nested too deeply") }
        switch header.length {
        case .definite(let count):
            guard count <= Self.maxElementBytes else { throw Self.malformed("an element of \(count) bytes") }
            return header.raw + (try bytes(count))
        case .indefinite:
            var result = header.raw
            while try !atEnd(of: header) {
                result += try whole(self.header(), depth: depth + 1)
                guard result.count <= Self.maxElementBytes else { throw Self.malformed("an element above \(Self.maxElementBytes) bytes") }
            }
            return result + [0x00, 0x00]
        }
    }

    /// Copies the octets of a constructed [0]/OCTET STRING (chunks of OCTET STRINGs) to `out`.
    mutating func copyOctets(of header: Header, to out: FileHandle, depth: Int) throws {
        guard depth < Self.maxDepth else { throw Self.malformed("encrypted content nested too deeply") }
        while try !atEnd(of: header) {
            let chunk = try self.header()
            switch (chunk.tag, chunk.length) {
            case (0x04, .definite(let count)):
                try copy(count, to: out)
            case (0x24, _):
                try copyOctets(of: chunk, to: out, depth: depth + 1)
            default:
                throw Self.malformed("encrypted content chunk is not an OCTET STRING")
            }
        }
    }

    static func encode(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8] = []
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var value = content.count
            while value > 0 {
                length.insert(UInt8(value & 0xFF), at: 0)
                value >>= 8
            }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + content
    }

    // MARK: - Buffered input

    private mutating func fill() throws -> Bool {
        if index < buffer.count { return true }
        if atEOF { return false }
        let data: Data
        do { data = try input.read(upToCount: 1 << 16) ?? Data() } catch {
            throw CryptoError(.fileNotFound, "cannot read the encrypted payload: \(error.localizedDescription)")
        }
        if data.isEmpty {
            atEOF = true
            return false
        }
        buffer = [UInt8](data)
        index = 0
        return true
    }

    private mutating func peek() throws -> UInt8? {
        try fill() ? buffer[index] : nil
    }

    private mutating func nextByte() throws -> UInt8? {
        guard try fill() else { return nil }
        defer { index += 1; offset += 1 }
        return buffer[index]
    }

    private mutating func bytes(_ count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            guard try fill() else { throw Self.malformed("unexpected end of file") }
            let take = min(count - result.count, buffer.count - index)
            result += buffer[index..<(index + take)]
            index += take
            offset += take
        }
        return result
    }

    private mutating func copy(_ count: Int, to out: FileHandle) throws {
        var remaining = count
        while remaining > 0 {
            guard try fill() else { throw Self.malformed("unexpected end of file in the encrypted content") }
            let take = min(remaining, buffer.count - index)
            do { try out.write(contentsOf: buffer[index..<(index + take)]) } catch {
                throw CryptoError(
                    .fileNotFound, "cannot write the detached ciphertext: \(error.localizedDescription); check free disk space")
            }
            index += take
            offset += take
            remaining -= take
        }
    }
}
