public import NIOCore

/// The wire container of a receipt (SPEC.md §5.4.2): canonical receipt bytes, the broker's
/// detached CMS over them and, for `acknowledged` only, the recipient's acknowledgement
/// statement with the recipient's detached CMS over it.
public struct SignedReceipt: Hashable, Sendable {
    /// The recipient's signed acknowledgement, carried in `acknowledged` receipts.
    public struct RecipientAcknowledgement: Hashable, Sendable {
        /// The statement the recipient signed.
        public var statement: AcknowledgementStatement
        /// The recipient's detached CMS SignedData over `statement.canonicalBytes`.
        public var signature: [UInt8]

        /// Creates the pair.
        public init(statement: AcknowledgementStatement, signature: [UInt8]) {
            self.statement = statement
            self.signature = signature
        }
    }

    /// The broker's statement.
    public let receipt: Receipt
    /// The broker's detached CMS SignedData over `receipt.canonicalBytes`.
    public let brokerSignature: [UInt8]
    /// Present exactly for `acknowledged` receipts.
    public let acknowledgement: RecipientAcknowledgement?

    /// Creates a container; throws INVALID_VALUE if the acknowledgement's presence does not match
    /// the kind or its message id, digest, sender or recipient differ from the receipt's.
    public init(receipt: Receipt, brokerSignature: [UInt8], acknowledgement: RecipientAcknowledgement? = nil) throws {
        if (receipt.kind == .acknowledged) != (acknowledgement != nil) {
            throw ProtocolError(.invalidValue, "recipient acknowledgement must be present exactly for acknowledged receipts")
        }
        if let s = acknowledgement?.statement {
            guard s.messageID == receipt.messageID, s.envelopeDigest == receipt.envelopeDigest,
                s.sender == receipt.sender, s.recipient == receipt.recipient
            else { throw ProtocolError(.invalidValue, "acknowledgement statement does not match the receipt") }
        }
        self.receipt = receipt
        self.brokerSignature = brokerSignature
        self.acknowledgement = acknowledgement
    }

    /// Writes `u32 len | receipt | u32 len | broker CMS | presence | [u32 len | statement | u32 len | recipient CMS]`.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes32(receipt.canonicalBytes)
        buffer.writeBytes32(brokerSignature)
        buffer.writePresence(acknowledgement != nil)
        if let a = acknowledgement {
            buffer.writeBytes32(a.statement.canonicalBytes)
            buffer.writeBytes32(a.signature)
        }
    }

    /// The encoded container as bytes.
    public var encodedBytes: [UInt8] {
        var b = ByteBuffer()
        encode(into: &b)
        return b.readBytes(length: b.readableBytes) ?? []
    }

    /// Parses exactly one encoded container (no trailing bytes). Entry point for fuzzing.
    public init(parsing bytes: [UInt8], limits: ProtocolLimits = .default) throws {
        var r = WireReader(bytes: bytes, context: "signed receipt")
        self = try Self.read(&r, limits: limits)
        try r.finish()
    }

    static let maxCanonicalSize: UInt32 = 1024

    static func read(_ r: inout WireReader, limits: ProtocolLimits) throws -> SignedReceipt {
        let receiptBytes = try r.slice32(max: maxCanonicalSize, "receipt")
        let brokerSignature = try r.bytes32(max: limits.maxSignatureSize, "broker signature")
        guard !brokerSignature.isEmpty else { throw r.error(.signatureMissing, "empty broker signature") }
        var ack: RecipientAcknowledgement? = nil
        if try r.presence("acknowledgement") {
            let statementBytes = try r.slice32(max: maxCanonicalSize, "acknowledgement statement")
            let signature = try r.bytes32(max: limits.maxSignatureSize, "recipient signature")
            guard !signature.isEmpty else { throw r.error(.signatureMissing, "empty recipient signature") }
            ack = RecipientAcknowledgement(
                statement: try AcknowledgementStatement(parsingCanonical: statementBytes),
                signature: signature)
        }
        let receipt = try Receipt(parsingCanonical: receiptBytes)
        do {
            return try SignedReceipt(receipt: receipt, brokerSignature: brokerSignature, acknowledgement: ack)
        } catch let e as ProtocolError {
            throw r.error(e.code, e.message)
        }
    }
}
