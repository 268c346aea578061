import Foundation
import KlammerProtocol
import KlammerServer
import NIOCore
import Testing

/// The broker's decoder: FrameParser for everything but SEND_BEGIN, whose envelope stays raw.
@Suite struct BrokerFrameDecoderTests {
    static func sendBeginBytes(requestID: UInt32 = 1, form: UInt8 = 1, envelope: [UInt8], trailing: [UInt8] = []) -> [UInt8] {
        var b = ByteBuffer()
        let body = [form] + withUnsafeBytes(of: UInt32(envelope.count).bigEndian, Array.init) + envelope + trailing
        b.writeInteger(UInt32(6 + body.count))
        b.writeInteger(FrameType.sendBegin.rawValue)
        b.writeInteger(UInt8(0))
        b.writeInteger(requestID)
        b.writeBytes(body)
        return Array(b.readableBytesView)
    }

    @Test func sendBeginKeepsTheEnvelopeBytesEvenWhenTheEnvelopeIsInvalid() throws {
        let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: [1, 2, 3])
        let frame = Frame.sendBegin(.init(requestID: 9, signatureForm: .batch, envelope: envelope))
        var buffer = ByteBuffer(bytes: frame.encodedBytes)
        #expect(
            try BrokerFrameDecoder.parse(&buffer, limits: .default)
                == .sendBegin(requestID: 9, form: .batch, envelopeBytes: envelope.canonicalBytes))
        #expect(buffer.readableBytes == 0)

        // Garbage inside the envelope blob is the broker's (request-scoped) business, not the decoder's.
        var garbage = ByteBuffer(bytes: Self.sendBeginBytes(envelope: [0xde, 0xad]))
        #expect(
            try BrokerFrameDecoder.parse(&garbage, limits: .default) == .sendBegin(requestID: 1, form: .single, envelopeBytes: [0xde, 0xad])
        )
    }

    @Test func sendBeginFramingErrorsAreConnectionErrors() {
        func code(_ bytes: [UInt8]) -> ErrorCode? {
            var b = ByteBuffer(bytes: bytes)
            do { _ = try BrokerFrameDecoder.parse(&b, limits: .default); return nil } catch let e as ProtocolError { return e.code } catch {
                return nil
            }
        }
        #expect(code(Self.sendBeginBytes(form: 3, envelope: [1])) == .invalidValue)
        #expect(code(Self.sendBeginBytes(requestID: 0, envelope: [1])) == .invalidValue)
        #expect(code(Self.sendBeginBytes(envelope: [1], trailing: [0])) == .trailingBytes)
        var truncated = Self.sendBeginBytes(envelope: [1, 2, 3, 4])
        truncated[14] = 0x10  // blob length 16 > 4 bytes present
        #expect(code(truncated) == .malformedFrame)
        var flags = Self.sendBeginBytes(envelope: [1])
        flags[5] = 1
        #expect(code(flags) == .invalidValue)
    }

    @Test func otherFramesDecodeLikeFrameParserAndPartialInputWaits() throws {
        let frames: [Frame] = [
            .hello(.init(maxFrameSize: 1 << 20, agent: "x")), .ping(.init(data: 7)),
            .fetch(.init(requestID: 3, maxMessages: 2)), .credit(.init(requestID: 5, credits: 1))
        ]
        for frame in frames {
            let bytes = frame.encodedBytes
            var partial = ByteBuffer(bytes: bytes.dropLast())
            #expect(try BrokerFrameDecoder.parse(&partial, limits: .default) == nil)
            var whole = ByteBuffer(bytes: bytes)
            #expect(try BrokerFrameDecoder.parse(&whole, limits: .default) == .frame(frame))
        }
        // A SEND_BEGIN still arriving waits as well.
        let begin = Self.sendBeginBytes(envelope: [1, 2, 3])
        var partial = ByteBuffer(bytes: begin.dropLast())
        #expect(try BrokerFrameDecoder.parse(&partial, limits: .default) == nil)
    }

    @Test func randomInputNeverCrashesAndAlwaysConsumesOrWaits() {
        var rng = SystemRandomNumberGenerator()
        let types: [UInt8] = FrameType.allCases.map(\.rawValue) + [0x00, 0x07, 0xff]
        for _ in 0..<10_000 {
            let bodyLength = Int.random(in: 0...64, using: &rng)
            var bytes: [UInt8] = []
            let length = UInt32(6 + bodyLength) &+ (Bool.random(using: &rng) ? 0 : UInt32.random(in: 0...3, using: &rng))
            bytes += withUnsafeBytes(of: length.bigEndian, Array.init)
            bytes.append(types.randomElement(using: &rng)!)
            bytes.append(Int.random(in: 0..<10, using: &rng) == 0 ? 1 : 0)
            bytes += withUnsafeBytes(of: UInt32.random(in: 0...3, using: &rng).bigEndian, Array.init)
            bytes += (0..<bodyLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var buffer = ByteBuffer(bytes: bytes)
            do {
                if try BrokerFrameDecoder.parse(&buffer, limits: .default) == nil {
                    #expect(buffer.readableBytes == bytes.count)
                }
            } catch is ProtocolError {
                // Expected for most inputs: a coded error, never a crash.
            } catch {
                Issue.record("non-protocol error \(error)")
            }
        }
    }
}
