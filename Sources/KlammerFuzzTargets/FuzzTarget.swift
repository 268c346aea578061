import KlammerProtocol
import NIOCore

/// The decoders that face untrusted bytes, as fuzz targets (SPEC.md §4, §5).
///
/// Each target feeds arbitrary bytes to a strict parser and checks two properties beyond "does not crash":
/// a failure is always a `ProtocolError` (never another error type), and whatever decodes re-encodes to exactly
/// the bytes it was decoded from (so the canonical form is unique and nothing is silently dropped or normalised).
/// A violated property traps, which libFuzzer reports as a crash with the input saved.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `FrameParser.parse`, repeatedly over the input (a stream of frames), with small limits so that limit
    /// checks are reached too.
    case frame
    /// `Envelope(parsingCanonical:)` and `StoredEnvelope.parse`.
    case envelope
    /// The signed statements: `Receipt`, `SignedReceipt`, `AcknowledgementStatement`, `BatchRootStatement` and
    /// `DirectoryStatement` parsers.
    case receipt

    /// Runs one input through the target. Traps on a violated property.
    public func run(_ bytes: UnsafeRawBufferPointer) {
        let input = [UInt8](bytes)
        switch self {
        case .frame: Self.frames(input)
        case .envelope: Self.envelope(input)
        case .receipt: Self.receipt(input)
        }
    }

    /// Limits small enough that a fuzzer reaches every "over the limit" branch with short inputs.
    static let smallLimits: ProtocolLimits = {
        var limits = ProtocolLimits()
        limits.maxFrameSize = 4096
        limits.maxRecipients = 8
        limits.maxSubjectBytes = 64
        limits.maxTextBytes = 64
        limits.maxSignatureSize = 512
        limits.maxCertificateSize = 512
        limits.maxRoutingSlipEntries = 8
        limits.maxBatchSize = 16
        return limits
    }()

    static func frames(_ input: [UInt8]) {
        for limits in [ProtocolLimits.default, smallLimits] {
            var buffer = ByteBuffer(bytes: input)
            while true {
                let before = buffer.readerIndex
                do {
                    guard let frame = try FrameParser.parse(&buffer, limits: limits) else { break }
                    let consumed = Array(input[before..<buffer.readerIndex])
                    check(frame.encodedBytes == consumed, "frame \(frame.type) does not re-encode to its input")
                } catch is ProtocolError {
                    break
                } catch {
                    fatalError("FrameParser threw a non-ProtocolError: \(error)")
                }
            }
        }
    }

    static func envelope(_ input: [UInt8]) {
        for limits in [ProtocolLimits.default, smallLimits] {
            expectProtocolErrorOr {
                let envelope = try Envelope(parsingCanonical: input, limits: limits)
                check(envelope.canonicalBytes == input, "envelope does not re-encode to its input")
            }
            expectProtocolErrorOr {
                var buffer = ByteBuffer(bytes: input)
                let stored = try StoredEnvelope.parse(&buffer, limits: limits)
                var out = ByteBuffer()
                stored.encode(into: &out)
                let consumed = input.count - buffer.readableBytes
                check(Array(out.readableBytesView) == Array(input[0..<consumed]), "stored envelope does not re-encode to its input")
            }
        }
    }

    static func receipt(_ input: [UInt8]) {
        expectProtocolErrorOr {
            let receipt = try Receipt(parsingCanonical: input)
            check(receipt.canonicalBytes == input, "receipt does not re-encode to its input")
        }
        for limits in [ProtocolLimits.default, smallLimits] {
            expectProtocolErrorOr {
                let signed = try SignedReceipt(parsing: input, limits: limits)
                check(signed.encodedBytes == input, "signed receipt does not re-encode to its input")
            }
        }
        expectProtocolErrorOr {
            let statement = try AcknowledgementStatement(parsingCanonical: input)
            check(statement.canonicalBytes == input, "acknowledgement statement does not re-encode to its input")
        }
        expectProtocolErrorOr {
            let root = try BatchRootStatement(parsingCanonical: input)
            check(root.canonicalBytes == input, "batch root statement does not re-encode to its input")
        }
        for limits in [ProtocolLimits.default, smallLimits] {
            expectProtocolErrorOr {
                let directory = try DirectoryStatement(parsingCanonical: input, limits: limits)
                check(directory.canonicalBytes == input, "directory statement does not re-encode to its input")
            }
        }
    }

    static func expectProtocolErrorOr(_ body: () throws -> Void) {
        do {
            try body()
        } catch is ProtocolError {
            // The expected outcome for malformed input.
        } catch {
            fatalError("parser threw a non-ProtocolError: \(error)")
        }
    }

    static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("fuzz property violated: \(message())") }
    }
}
