import Foundation
import Testing
@testable import KlammerProtocol

@Suite struct JSONTests {
    @Test func isoFormatting() {
        #expect(ISO8601Millis.format(0) == "1970-01-01T00:00:00.000Z")
        #expect(ISO8601Millis.format(Fixtures.createdAt) == "2026-11-25T09:30:00.000Z")
        #expect(ISO8601Millis.format(951_782_400_123) == "2000-02-29T00:00:00.123Z")
        #expect(ISO8601Millis.format(UInt64.max).hasSuffix("Z"))
    }

    @Test func envelopeJSONRoundTrip() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(Fixtures.stored), as: UTF8.self)
        #expect(json.contains("\"messageId\":\"00112233445566778899aabbccddeeff\""))
        #expect(json.contains("\"createdAt\":\"2026-11-25T09:30:00.000Z\""))
        #expect(json.contains("\"recipients\":[\"ags:09162000\",\"ags:11000000\"]"))
        let back = try JSONDecoder().decode(StoredEnvelope.self, from: Data(json.utf8))
        #expect(back == Fixtures.stored)
    }

    @Test func receiptJSONRoundTrip() throws {
        for r in [Fixtures.acceptedReceipt, Fixtures.acknowledgedReceipt, Fixtures.rejectedReceipt] {
            let data = try JSONEncoder().encode(r)
            #expect(try JSONDecoder().decode(Receipt.self, from: data) == r)
        }
        let json = String(decoding: try JSONEncoder().encode(Fixtures.rejectedReceipt), as: UTF8.self)
        #expect(json.contains("\"kind\":\"rejected\""))
        #expect(json.contains("\"name\":\"UNKNOWN_RECIPIENT\""))
    }

    @Test func invalidJSONIsRejected() {
        let bad =
            #"{"clientMessageId":"x","sender":"AGS:1","recipients":["ags:1"],"subject":"","contentType":"a","createdAtMillis":0,"payloadLength":0,"payloadSha256":"00"}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Envelope.self, from: Data(bad.utf8)) }
    }
}
