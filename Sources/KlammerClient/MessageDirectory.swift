public import Foundation
public import KlammerCrypto
public import KlammerProtocol
import KlammerHex
import NIOCore

/// The directory a received message is stored in (SPEC.md §5.10), and its offline verification.
///
/// ```
/// <out>/<message id>/
///   payload            the payload bytes
///   envelope.bin       the canonical signed envelope (§5.2) — the exact bytes the sender signed (single form)
///   envelope.json      readable stored envelope (§5.8): message id, acceptance time, envelope fields
///   signature.p7s      the sender's detached CMS SignedData (DER)
///   signature.bin      the sender signature as carried on the wire (§5.5: form, CMS, batch proof)
///   batch-root.bin     batch form only: the batch root statement the CMS covers (§5.5)
///   sender.pem         the sender certificate the broker verified the signature against
///   broker.pem         the broker's TLS certificate, which signs the receipts (when known)
///   receipts.json      the receipts known so far, readable
///   receipts/NN-<kind>.bin   each signed receipt container (§5.4.2), in issue order, and split for openssl:
///   receipts/NN-<kind>.receipt + .p7s                 canonical receipt bytes and the broker's detached CMS
///   receipts/NN-acknowledged.statement + .recipient.p7s   the recipient's acknowledgement and its detached CMS
/// ```
public enum MessageDirectory {
    /// `payload`: the payload bytes.
    public static let payloadFile = "payload"
    /// `envelope.bin`: the canonical signed envelope.
    public static let envelopeFile = "envelope.bin"
    /// `envelope.json`: the readable stored envelope.
    public static let envelopeJSONFile = "envelope.json"
    /// `signature.p7s`: the sender's detached CMS (DER).
    public static let signatureFile = "signature.p7s"
    /// `signature.bin`: the sender signature in its wire layout (SPEC.md §5.5).
    public static let wireSignatureFile = "signature.bin"
    /// `batch-root.bin`: the batch root statement the CMS covers (batch form only).
    public static let batchRootFile = "batch-root.bin"
    /// `sender.pem`: the sender certificate.
    public static let senderCertificateFile = "sender.pem"
    /// `broker.pem`: the broker certificate that signs the receipts.
    public static let brokerCertificateFile = "broker.pem"
    /// `receipts.json`: the receipts, readable.
    public static let receiptsJSONFile = "receipts.json"
    /// `receipts/`: one signed receipt container per file.
    public static let receiptsDirectory = "receipts"

    /// Largest envelope, signature or certificate file read back (the payload is streamed).
    static let maxSmallFile = 1 << 20

    /// Where ``store(_:into:brokerCertificate:trustStore:sync:)`` put a message.
    public struct Placement: Sendable, Hashable {
        /// The message directory now holding this message (`<out>/<id>`, or `<out>/<id>.unverified` for an
        /// unverified copy of a message already stored).
        public let directory: String
        /// True if `<out>/<id>` existed and was kept: a redelivered copy never replaces a copy that verifies, and an
        /// unverified copy never replaces anything.
        public let keptEarlierCopy: Bool
    }

    /// Writes `message` into `<outDirectory>/<message id>`; see ``store(_:into:brokerCertificate:trustStore:sync:)``.
    /// - Returns: the message directory.
    @discardableResult
    public static func write(
        _ message: ReceivedMessage, into outDirectory: String, brokerCertificate: Certificate? = nil,
        trustStore: TrustStore? = nil, sync: DurableSync = .standard
    ) throws(KlammerClientError) -> String {
        try store(message, into: outDirectory, brokerCertificate: brokerCertificate, trustStore: trustStore, sync: sync).directory
    }

    /// Stores `message` durably in `<outDirectory>/<message id>` (SPEC.md §5.10): every file is created in
    /// `<out>/.<id>.partial` and fsynced, then that directory, then it is renamed into place and `<out>` is fsynced —
    /// when this returns, the message survives a crash, so it may be acknowledged. A payload in a file is moved, not
    /// copied.
    ///
    /// A redelivered message whose `<out>/<id>` already exists: if the earlier copy verifies with `trustStore`, it is
    /// kept (made durable again) and the new copy discarded; an unverified new copy never replaces anything and goes to
    /// `<out>/<id>.unverified` as evidence; only a verified copy replaces an earlier one that does not verify.
    public static func store(
        _ message: ReceivedMessage, into outDirectory: String, brokerCertificate: Certificate? = nil,
        trustStore: TrustStore? = nil, sync: DurableSync = .standard
    ) throws(KlammerClientError) -> Placement {
        let final = (outDirectory as NSString).appendingPathComponent(message.messageID.hex)
        let fm = FileManager.default
        if fm.fileExists(atPath: final) {
            let earlierVerifies = trustStore.map { store in (try? verify(final, trustStore: store)) != nil } ?? false
            if earlierVerifies, message.isVerified {
                if case .file(let source) = message.payload { try? fm.removeItem(atPath: source) }
                try sync.syncTree(final)
                try sync.syncDirectory(outDirectory)
                return Placement(directory: final, keptEarlierCopy: true)
            }
            if !message.isVerified {
                let evidence = final + ".unverified"
                try writeStaged(message, as: evidence, in: outDirectory, brokerCertificate: brokerCertificate, sync: sync)
                return Placement(directory: evidence, keptEarlierCopy: true)
            }
        }
        try writeStaged(message, as: final, in: outDirectory, brokerCertificate: brokerCertificate, sync: sync)
        return Placement(directory: final, keptEarlierCopy: false)
    }

    /// Writes every file into `<out>/.<name>.partial`, fsyncs them and it, renames it to `final` (an earlier `final` is
    /// first renamed aside and removed after the new one is durable) and fsyncs `<out>`.
    static func writeStaged(
        _ message: ReceivedMessage, as final: String, in outDirectory: String,
        brokerCertificate: Certificate?, sync: DurableSync
    ) throws(KlammerClientError) {
        let name = (final as NSString).lastPathComponent
        let staging = (outDirectory as NSString).appendingPathComponent(".\(name).partial")
        let replaced = (outDirectory as NSString).appendingPathComponent(".\(name).replaced")
        let fm = FileManager.default
        func path(_ name: String) -> String { (staging as NSString).appendingPathComponent(name) }
        do {
            try? fm.removeItem(atPath: staging)
            try? fm.removeItem(atPath: replaced)
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KlammerClientError(.fileError, "cannot create \(staging): \(error); check that \(outDirectory) is writable")
        }
        switch message.payload {
        case .bytes(let bytes):
            try sync.create(path(payloadFile), bytes)
        case .file(let source):
            try sync.rename(source, path(payloadFile))
            try sync.syncFile(path(payloadFile))
        }
        try sync.create(path(envelopeFile), message.signedEnvelopeBytes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json: Data
        do { json = try encoder.encode(message.stored) } catch {
            throw KlammerClientError(.fileError, "cannot encode the envelope of \(message.messageID): \(error)")
        }
        try sync.create(path(envelopeJSONFile), json)
        try sync.create(path(signatureFile), message.signature.cms)
        var wire = ByteBuffer()
        message.signature.encode(into: &wire)
        try sync.create(path(wireSignatureFile), Array(wire.readableBytesView))
        if case .batch = message.signature {
            let root = try MessageVerifier.signedContent(envelope: message.envelope, signature: message.signature)
            try sync.create(path(batchRootFile), root)
        }
        try sync.create(path(senderCertificateFile), Array((message.senderCertificate?.pemString ?? "").utf8))
        if let brokerCertificate {
            try sync.create(path(brokerCertificateFile), Array(brokerCertificate.pemString.utf8))
        }
        try writeReceipts([], in: staging, sync: sync)
        try sync.syncDirectory(staging)
        let hadEarlier = fm.fileExists(atPath: final)
        if hadEarlier { try sync.rename(final, replaced) }
        try sync.rename(staging, final)
        try sync.syncDirectory(outDirectory)
        if hadEarlier { try? fm.removeItem(atPath: replaced) }
    }

    /// Replaces the receipts of a message directory with `receipts` (in issue order); every file is fsynced, then the
    /// directories.
    public static func writeReceipts(_ receipts: [SignedReceipt], in directory: String, sync: DurableSync = .standard)
        throws(KlammerClientError)
    {
        let fm = FileManager.default
        let receiptsPath = (directory as NSString).appendingPathComponent(receiptsDirectory)
        do {
            try? fm.removeItem(atPath: receiptsPath)
            try fm.createDirectory(atPath: receiptsPath, withIntermediateDirectories: true)
        } catch {
            throw KlammerClientError(.fileError, "cannot create \(receiptsPath): \(error)")
        }
        for (index, receipt) in receipts.enumerated() {
            let stem = (receiptsPath as NSString).appendingPathComponent(
                String(format: "%02d-%@", index + 1, receipt.receipt.kind.description))
            try sync.create(stem + ".bin", receipt.encodedBytes)
            // The same receipt split into what each signature covers, so `openssl cms -verify` works on it
            // directly (SPEC.md §5.10).
            try sync.create(stem + ".receipt", receipt.receipt.canonicalBytes)
            try sync.create(stem + ".p7s", receipt.brokerSignature)
            if let acknowledgement = receipt.acknowledgement {
                try sync.create(stem + ".statement", acknowledgement.statement.canonicalBytes)
                try sync.create(stem + ".recipient.p7s", acknowledgement.signature)
            }
        }
        try sync.syncDirectory(receiptsPath)
        let json: Data
        do { json = try receiptsJSON(receipts) } catch {
            throw KlammerClientError(.fileError, "cannot encode the receipts for \(directory): \(error)")
        }
        try sync.replace((directory as NSString).appendingPathComponent(receiptsJSONFile), json)
        try sync.syncDirectory(directory)
    }

    /// Readable JSON of receipts: each receipt's fields, plus the recipient's statement for `acknowledged`.
    public static func receiptsJSON(_ receipts: [SignedReceipt]) throws -> Data {
        struct Entry: Encodable {
            var receipt: Receipt
            var acknowledgement: AcknowledgementJSON?
        }
        struct AcknowledgementJSON: Encodable {
            var recipient: ParticipantID
            var timestampMillis: UInt64
            var statementHex: String
            var signatureBytes: Int
        }
        let entries = receipts.map { r in
            Entry(
                receipt: r.receipt,
                acknowledgement: r.acknowledgement.map {
                    AcknowledgementJSON(
                        recipient: $0.statement.recipient, timestampMillis: $0.statement.timestampMillis,
                        statementHex: Hex.encode($0.statement.canonicalBytes),
                        signatureBytes: $0.signature.count)
                })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(entries)
    }

    /// What offline verification established.
    public struct Verification: Sendable {
        /// The verified envelope.
        public let envelope: Envelope
        /// The verified sender certificate.
        public let senderCertificate: Certificate
        /// SHA-256 of the canonical envelope.
        public let envelopeDigest: SHA256Digest
        /// The signature form.
        public let form: SignatureForm
        /// The receipts whose broker signature verified with `broker.pem`, in file order; nil if the directory has
        /// no `broker.pem` (receipts then are not checked).
        public let receipts: [Receipt]?
        /// The time the sender certificate's validity was checked at (its chain and revocation status are checked at
        /// verification time): the broker-signed acceptance time if a verified `accepted` receipt is present, else
        /// the verification time.
        public let signatureCheckedAt: Date
        /// True if ``signatureCheckedAt`` is the acceptance time of a verified `accepted` receipt.
        public let signatureCheckedAtAcceptance: Bool
    }

    /// Writes the broker certificate that signs the receipts (`broker.pem`).
    public static func writeBrokerCertificate(_ certificate: Certificate, in directory: String, sync: DurableSync = .standard)
        throws(KlammerClientError)
    {
        try sync.replace((directory as NSString).appendingPathComponent(brokerCertificateFile), Array(certificate.pemString.utf8))
        try sync.syncDirectory(directory)
    }

    /// Verifies every `receipts/*.bin` with the broker certificate: each receipt refers to this envelope, the broker's
    /// CMS over the canonical receipt verifies, and the broker certificate chains to the CA (revocation checked at
    /// `time`) and was valid at the receipt's own timestamp (an archived message stays verifiable after the broker
    /// certificate expired; SPEC.md §5.10).
    static func verifyReceipts(
        in directory: String, envelopeDigest: SHA256Digest, trustStore: TrustStore,
        at time: Date
    ) throws(KlammerClientError) -> [Receipt]? {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        guard FileManager.default.fileExists(atPath: path(brokerCertificateFile)) else { return nil }
        let broker: Certificate
        do { broker = try Certificate(pem: String(decoding: try readSmall(path(brokerCertificateFile)), as: UTF8.self)) } catch {
            throw KlammerClientError(.verificationFailed, "\(path(brokerCertificateFile)) holds no usable certificate: \(error)")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path(receiptsDirectory))) ?? [])
            .filter { $0.hasSuffix(".bin") }.sorted()
        if names.isEmpty {
            do { try trustStore.verify(broker, at: time, purpose: .any) } catch {
                throw KlammerClientError(.verificationFailed, "the broker certificate \(broker.subject) is not trusted: \(error)")
            }
        }
        var receipts: [Receipt] = []
        for name in names {
            let file = path(receiptsDirectory + "/" + name)
            let signed: SignedReceipt
            do { signed = try SignedReceipt(parsing: try readSmall(file)) } catch {
                throw KlammerClientError(.verificationFailed, "\(file) is not a signed Klammer receipt: \(error)")
            }
            guard signed.receipt.envelopeDigest == envelopeDigest else {
                throw KlammerClientError(
                    .verificationFailed, "\(file) is a receipt for another message (envelope \(signed.receipt.envelopeDigest.hex))")
            }
            let issuedAt = Date(timeIntervalSince1970: Double(signed.receipt.timestampMillis) / 1000)
            do { try trustStore.verify(broker, validAt: issuedAt, revocationAt: time, purpose: .any) } catch {
                throw KlammerClientError(
                    .verificationFailed, "the broker certificate \(broker.subject) is not trusted for \(file): \(error)")
            }
            do {
                try CMS.verifyDetached(signature: signed.brokerSignature, content: signed.receipt.canonicalBytes, signer: broker)
            } catch {
                throw KlammerClientError(
                    .verificationFailed, "the broker's signature on \(file) does not verify with \(broker.subject): \(error)")
            }
            receipts.append(signed.receipt)
        }
        return receipts
    }

    /// Verifies a message directory offline: sender certificate against `trustStore` (valid at the acceptance time of
    /// a verified `accepted` receipt if there is one, else at `time`; chain and revocation at `time`), the CMS
    /// signature over the signed bytes, and the payload digest (the equivalent of
    /// `openssl cms -verify -binary -inform DER -in signature.p7s -content envelope.bin -certfile sender.pem -CAfile CA -purpose any`
    /// plus `sha256sum payload`).
    public static func verify(_ directory: String, trustStore: TrustStore, at time: Date = Date()) throws(KlammerClientError)
        -> Verification
    {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        let envelopeBytes = try readSmall(path(envelopeFile))
        let envelope: Envelope
        do { envelope = try Envelope(parsingCanonical: envelopeBytes) } catch {
            throw KlammerClientError(.verificationFailed, "\(path(envelopeFile)) is not a canonical Klammer envelope: \(error)")
        }
        let signature: SenderSignature
        if FileManager.default.fileExists(atPath: path(wireSignatureFile)) {
            signature = try parseWireSignature(try readSmall(path(wireSignatureFile)), file: path(wireSignatureFile))
            let p7s = try readSmall(path(signatureFile))
            guard p7s == signature.cms else {
                throw KlammerClientError(.verificationFailed, "\(signatureFile) and \(wireSignatureFile) carry different signatures")
            }
        } else {
            signature = .single(cms: try readSmall(path(signatureFile)))
        }
        let pem = String(decoding: try readSmall(path(senderCertificateFile)), as: UTF8.self)
        let certificate: Certificate
        do { certificate = try Certificate(pem: pem) } catch {
            throw KlammerClientError(.verificationFailed, "\(path(senderCertificateFile)) holds no usable certificate: \(error)")
        }
        let envelopeDigest = MessageVerifier.digest(of: envelope)
        // The broker-signed acceptance time is the evidence of when the signature existed (SPEC.md §5.10): the sender
        // certificate must have been valid then, not at whatever later day the archive is checked.
        let receipts = try verifyReceipts(in: directory, envelopeDigest: envelopeDigest, trustStore: trustStore, at: time)
        let acceptedAt = receipts?.first { $0.kind == .accepted }
            .map { Date(timeIntervalSince1970: Double($0.timestampMillis) / 1000) }
        try MessageVerifier.verifySignature(
            envelope: envelope, signature: signature, senderCertificate: certificate,
            trustStore: trustStore, signedAt: acceptedAt, at: time)
        // An encrypted message is signed over its ciphertext, kept as payload.cms next to the decrypted payload.
        let signedPayload =
            EncryptedPayload.isEncrypted(envelope) && FileManager.default.fileExists(atPath: path(encryptedPayloadFile))
            ? encryptedPayloadFile : payloadFile
        let (length, digest) = try PayloadSource.file(path(signedPayload)).measure()
        try MessageVerifier.verifyPayload(envelope: envelope, length: length, digest: digest)
        return Verification(
            envelope: envelope, senderCertificate: certificate,
            envelopeDigest: envelopeDigest, form: signature.form, receipts: receipts,
            signatureCheckedAt: acceptedAt ?? time, signatureCheckedAtAcceptance: acceptedAt != nil)
    }

    static func readSmall(_ path: String) throws(KlammerClientError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KlammerClientError(.fileError, "cannot read \(path); is this a message directory written by `klammer receive`?")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxSmallFile + 1)) ?? Data()
        guard data.count <= maxSmallFile else {
            throw KlammerClientError(
                .verificationFailed, "\(path) is larger than \(maxSmallFile) bytes; it cannot be an envelope, signature or certificate")
        }
        return [UInt8](data)
    }

    /// Parses the §5.5 signature layout (by framing it as the body of a SEND_END, whose parser is strict).
    static func parseWireSignature(_ bytes: [UInt8], file: String) throws(KlammerClientError) -> SenderSignature {
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(6 + bytes.count))
        frame.writeInteger(FrameType.sendEnd.rawValue)
        frame.writeInteger(UInt8(0))
        frame.writeInteger(UInt32(1))
        frame.writeBytes(bytes)
        guard let parsed = try? FrameParser.parseComplete(Array(frame.readableBytesView)), case .sendEnd(let end) = parsed else {
            throw KlammerClientError(.verificationFailed, "\(file) is not a Klammer sender signature (SPEC.md §5.5)")
        }
        return end.signature
    }
}
