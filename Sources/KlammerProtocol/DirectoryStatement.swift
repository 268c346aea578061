public import NIOCore

/// The broker's signed answer to a directory lookup (SPEC.md §5.11): the encryption certificates of one participant
/// as of `issuedAtMillis`, valid for caching until `validUntilMillis`. The broker signs these canonical bytes with a
/// detached CMS (like receipts), so a cached answer can be re-verified later.
public struct DirectoryStatement: Hashable, Sendable {
    /// Domain-separation prefix `KLAMMER-DIRECTORY\0` (18 bytes).
    public static let domainPrefix: [UInt8] = Array("KLAMMER-DIRECTORY".utf8) + [0]
    /// Version byte following the prefix.
    public static let canonicalVersion: UInt8 = 1
    /// Most certificates in one statement (equals the registry's certificates per participant).
    public static let maxCertificates = 16

    /// The participant looked up.
    public let participant: ParticipantID
    /// Broker clock when the answer was made, ms since the Unix epoch.
    public let issuedAtMillis: UInt64
    /// The answer may be used (cached) until this time, ms since the Unix epoch; ≥ `issuedAtMillis`.
    public let validUntilMillis: UInt64
    /// The answering broker.
    public let broker: ParticipantID
    /// DER X.509 certificates to encrypt for (may be empty: suspended, revoked, or no usable certificate).
    public let certificates: [[UInt8]]
    /// The canonical signed bytes.
    public let canonicalBytes: [UInt8]

    /// Creates a statement. Throws `INVALID_VALUE` for more than ``maxCertificates`` certificates, an empty or
    /// oversized certificate, or `validUntilMillis` before `issuedAtMillis`.
    public init(
        participant: ParticipantID, issuedAtMillis: UInt64, validUntilMillis: UInt64, broker: ParticipantID,
        certificates: [[UInt8]], maxCertificateSize: UInt32 = ProtocolLimits.default.maxCertificateSize
    ) throws {
        guard certificates.count <= Self.maxCertificates else {
            throw ProtocolError(
                .limitExceeded, "directory statement: \(certificates.count) certificates exceed the limit of \(Self.maxCertificates)")
        }
        guard certificates.allSatisfy({ !$0.isEmpty && $0.count <= Int(maxCertificateSize) }) else {
            throw ProtocolError(.limitExceeded, "directory statement: a certificate is empty or larger than \(maxCertificateSize) bytes")
        }
        guard validUntilMillis >= issuedAtMillis else {
            throw ProtocolError(.invalidValue, "directory statement: valid until is before issued at")
        }
        self.participant = participant
        self.issuedAtMillis = issuedAtMillis
        self.validUntilMillis = validUntilMillis
        self.broker = broker
        self.certificates = certificates
        var out = ByteBuffer()
        out.writeBytes(Self.domainPrefix)
        out.writeInteger(Self.canonicalVersion)
        out.writeParticipantID(participant)
        out.writeInteger(issuedAtMillis)
        out.writeInteger(validUntilMillis)
        out.writeParticipantID(broker)
        out.writeInteger(UInt16(certificates.count))
        for certificate in certificates { out.writeBytes32(certificate) }
        self.canonicalBytes = out.readBytes(length: out.readableBytes) ?? []
    }

    /// Parses canonical bytes strictly.
    public init(parsingCanonical buffer: ByteBuffer, limits: ProtocolLimits = .default) throws {
        var r = WireReader(buffer, context: "directory statement")
        guard try r.bytes(Self.domainPrefix.count, "domain prefix") == Self.domainPrefix else {
            throw r.error(.invalidValue, "wrong domain prefix")
        }
        let version = try r.u8("version")
        guard version == Self.canonicalVersion else {
            throw r.error(.unsupportedVersion, "directory statement version \(version) not supported")
        }
        let participant = try r.participantID("participant")
        let issuedAt = try r.u64("issued at")
        let validUntil = try r.u64("valid until")
        let broker = try r.participantID("broker")
        let count = try r.u16("certificate count")
        guard count <= Self.maxCertificates else {
            throw r.error(.limitExceeded, "\(count) certificates exceed the limit of \(Self.maxCertificates)")
        }
        var certificates: [[UInt8]] = []
        for _ in 0..<Int(count) {
            let certificate = try r.bytes32(max: limits.maxCertificateSize, "certificate")
            guard !certificate.isEmpty else { throw r.error(.invalidValue, "empty certificate") }
            certificates.append(certificate)
        }
        try r.finish()
        guard validUntil >= issuedAt else { throw r.error(.invalidValue, "valid until is before issued at") }
        try self.init(
            participant: participant, issuedAtMillis: issuedAt, validUntilMillis: validUntil, broker: broker,
            certificates: certificates, maxCertificateSize: limits.maxCertificateSize)
    }

    /// Convenience: parses canonical bytes from an array.
    public init(parsingCanonical bytes: [UInt8], limits: ProtocolLimits = .default) throws {
        try self.init(parsingCanonical: ByteBuffer(bytes: bytes), limits: limits)
    }
}
