import NIOCore
import Testing
@testable import KlammerProtocol

/// SplitMix64: a tiny seeded generator so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct FuzzTests {
    /// Decodes everything in `bytes`; every outcome must be a frame, nil or a ProtocolError.
    /// Any frame that decodes must re-encode to exactly the bytes it was decoded from
    /// (so a decoded frame is never larger than its input: allocation is bounded by the input).
    func decodeAll(_ bytes: [UInt8], limits: ProtocolLimits = .default) -> (frames: Int, error: ErrorCode?) {
        var buffer = ByteBuffer(bytes: bytes)
        var frames = 0
        while true {
            let before = buffer.readerIndex
            do {
                guard let frame = try FrameParser.parse(&buffer, limits: limits) else { return (frames, nil) }
                let consumed = Array(bytes[before..<buffer.readerIndex])
                #expect(frame.encodedBytes == consumed, "decoded frame must re-encode to its input")
                frames += 1
            } catch let e as ProtocolError {
                return (frames, e.code)
            } catch {
                Issue.record("non-ProtocolError thrown: \(error)")
                return (frames, nil)
            }
        }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SeededGenerator(seed: 0x4B4C_414D_4D45_5231)
        var limits = ProtocolLimits()
        limits.maxFrameSize = 4096
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Make plausible headers common: small length and a known type.
            if count >= 5, Bool.random(using: &rng) {
                let length = UInt32(count - 4)
                bytes[0] = 0; bytes[1] = 0; bytes[2] = UInt8(length >> 8); bytes[3] = UInt8(length & 0xFF)
                bytes[4] = FrameType.allCases.randomElement(using: &rng)!.rawValue
                if count >= 10 { bytes[5] = 0 }
            }
            _ = decodeAll(bytes, limits: limits)
        }
    }

    @Test func mutatedVectorsNeverCrash() {
        var rng = SeededGenerator(seed: 2026)
        let seeds = Vectors.all.prefix(Fixtures.frames.count).map { Hex.decode($0.hex)! }
        var decodedMutants = 0
        for _ in 0..<30_000 {
            var bytes = seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                default: if bytes.count > 1 { bytes.remove(at: i) }
                }
            }
            if decodeAll(bytes).frames > 0 { decodedMutants += 1 }
        }
        #expect(decodedMutants > 0)
    }

    @Test func signedReceiptParserNeverCrashes() {
        var rng = SeededGenerator(seed: 7)
        let seed = Fixtures.signedAcknowledged.encodedBytes
        for _ in 0..<20_000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))) }
            do {
                let parsed = try SignedReceipt(parsing: bytes)
                #expect(parsed.encodedBytes == bytes)
            } catch {
                #expect(error is ProtocolError)
            }
        }
    }

    @Test func randomEnvelopesRoundTrip() throws {
        var rng = SeededGenerator(seed: 99)
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789äöüß §–".unicodeScalars)
        for _ in 0..<500 {
            let n = Int.random(in: 1...20, using: &rng)
            let recipients = try (0..<n).map { try ParticipantID("ags:\(10_000_000 + $0)") }
            let subject = String(
                String.UnicodeScalarView((0..<Int.random(in: 0...40, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }))
            let env = try Envelope(
                clientMessageID: "c-\(rng.next())", sender: Fixtures.sender, recipients: recipients.shuffled(using: &rng),
                subject: subject, contentType: "application/xml", createdAtMillis: rng.next() >> 20,
                payloadLength: UInt64.random(in: 0...(2 << 30), using: &rng), payloadDigest: Fixtures.payloadDigest,
                timeToLiveSeconds: Bool.random(using: &rng) ? UInt32.random(in: 1...UInt32.max, using: &rng) : nil,
                conversationID: Bool.random(using: &rng) ? MessageID.random(using: &rng) : nil,
                inReplyTo: Bool.random(using: &rng) ? MessageID.random(using: &rng) : nil)
            let parsed = try Envelope(parsingCanonical: env.canonicalBytes)
            #expect(parsed == env)
            #expect(parsed.subject == env.subject)
            let frame = Frame.sendBegin(
                .init(requestID: UInt32.random(in: 1...UInt32.max, using: &rng), signatureForm: .single, envelope: env))
            #expect(try FrameParser.parseComplete(frame.encodedBytes) == frame)
        }
    }
}

@Suite struct CanonicalFuzzTests {
    /// Any mutated canonical structure that still parses must re-encode to exactly the mutated bytes:
    /// parsing is injective, so no two byte strings denote the same envelope/receipt/statement.
    @Test func parsedCanonicalBytesAreUnique() {
        var rng = SeededGenerator(seed: 0xC0FFEE)
        let seeds: [[UInt8]] = [
            Fixtures.envelope.canonicalBytes, Fixtures.acknowledgedReceipt.canonicalBytes,
            Fixtures.rejectedReceipt.canonicalBytes, Fixtures.ackStatement.canonicalBytes
        ]
        var parsed = 0
        for _ in 0..<20_000 {
            let which = Int.random(in: 0..<seeds.count, using: &rng)
            var bytes = seeds[which]
            let i = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
            case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: i)
            default: bytes.remove(at: i)
            }
            do {
                let again: [UInt8]
                switch which {
                case 0: again = try Envelope(parsingCanonical: bytes).canonicalBytes
                case 3: again = try AcknowledgementStatement(parsingCanonical: bytes).canonicalBytes
                default: again = try Receipt(parsingCanonical: bytes).canonicalBytes
                }
                #expect(again == bytes)
                parsed += 1
            } catch {
                #expect(error is ProtocolError)
            }
        }
        #expect(parsed > 0)
    }
}
