import NIOCore

extension Frame {
    /// DIRECTORY_LOOKUP (client): asks for a participant's current encryption certificates (SPEC.md §4.4.24).
    public struct DirectoryLookup: Hashable, Sendable, FrameBody {
        /// A fresh client request id.
        public var requestID: UInt32
        /// The participant looked up (any registered participant, including the requester).
        public var participant: ParticipantID

        /// Creates the value.
        public init(requestID: UInt32, participant: ParticipantID) {
            self.requestID = requestID
            self.participant = participant
        }

        func encodeBody(into b: inout ByteBuffer) { b.writeParticipantID(participant) }
        static func read(_ r: inout WireReader, requestID: UInt32) throws -> DirectoryLookup {
            DirectoryLookup(requestID: requestID, participant: try r.participantID("participant"))
        }
    }

    /// DIRECTORY_ANSWER (broker): the signed directory statement (SPEC.md §4.4.25, §5.11).
    public struct DirectoryAnswer: Hashable, Sendable, FrameBody {
        /// The DIRECTORY_LOOKUP's request id.
        public var requestID: UInt32
        /// The canonical statement.
        public var statement: DirectoryStatement
        /// The broker's detached CMS SignedData over `statement.canonicalBytes` (1 … `maxSignatureSize` bytes).
        public var signature: [UInt8]

        /// Creates the value.
        public init(requestID: UInt32, statement: DirectoryStatement, signature: [UInt8]) {
            self.requestID = requestID
            self.statement = statement
            self.signature = signature
        }

        func encodeBody(into b: inout ByteBuffer) {
            b.writeBytes32(statement.canonicalBytes)
            b.writeBytes32(signature)
        }

        static func read(_ r: inout WireReader, requestID: UInt32, limits: ProtocolLimits) throws -> DirectoryAnswer {
            // 16 certificates of maxCertificateSize plus the fixed fields bound the statement.
            let maxStatement = UInt32(DirectoryStatement.maxCertificates) * (limits.maxCertificateSize + 4) + 512
            let statement = try DirectoryStatement(parsingCanonical: try r.slice32(max: maxStatement, "statement"), limits: limits)
            let signature = try r.bytes32(max: limits.maxSignatureSize, "broker signature")
            guard !signature.isEmpty else { throw r.error(.signatureMissing, "empty broker signature") }
            return DirectoryAnswer(requestID: requestID, statement: statement, signature: signature)
        }
    }
}
