import Foundation
import KlammerCrypto
import KlammerProtocol
import KlammerTestSupport
import NIOCore
import Testing

/// Resumption while the old connection is still open — the broker has not noticed the cut yet (SPEC.md §4.8, §9.3,
/// §9.5): the new connection takes the upload or the lease over at once, without waiting for the old teardown.
@Suite struct ResumeTakeoverTests {
    @Test func uploadHeldByALiveConnectionIsTakenOverWithItsStoredBytes() async throws {
        try await withServer(maxInline: 8 << 10) { server in
            let payload = payloadBytes(60_000, seed: 11)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload, clientID: "takeover-1")
            let old = try await server.session(TestPKI.a)
            defer { old.close() }
            try await old.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
            #expect(await old.nextSignificant() == .ready(.init(requestID: 1, offset: 0)))
            try await old.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload[0..<20_000]))))
            guard case .windowUpdate = await old.next() else { Issue.record("no WINDOW_UPDATE"); return }

            // The old connection stays open; the new one gets READY with the 20 000 stored bytes on the first try.
            let new = try await server.session(TestPKI.a)
            defer { new.close() }
            try await new.send(.sendBegin(.init(requestID: 7, signatureForm: .single, envelope: envelope)))
            #expect(await new.nextSignificant() == .ready(.init(requestID: 7, offset: 20_000)))

            // The old connection is told at once (without sending anything) that it lost the upload.
            let refused = try #require(errorFrame(await old.nextSignificant()))
            #expect(refused.requestID == 1 && refused.code == .unknownRequest)
            // The old connection holds no request any more, so its GOAWAY drains it at once (it would wait forever
            // for an upload it no longer owns otherwise).
            try await old.send(.goAway(.init(lastRequestID: 1, code: ErrorCode(rawValue: 0), message: "")))
            #expect(await old.framesUntilClosed(timeout: .seconds(5)) != nil, "the old connection did not close after GOAWAY")

            try await new.send(.chunk(.init(requestID: 7, offset: 20_000, data: ByteBuffer(bytes: payload[20_000...]))))
            let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: TestPKI.a.certificate, key: TestPKI.a.key)
            try await new.send(.sendEnd(.init(requestID: 7, signature: .single(cms: cms))))
            guard case .accepted = await new.nextSignificant() else { Issue.record("resumed upload not accepted"); return }

            let b = try await server.session(TestPKI.b)
            defer { b.close() }
            try await b.send(.fetch(.init(requestID: 1, maxMessages: 5)))
            let delivery = try #require(await b.receiveDelivery())
            #expect(sameBytes(delivery.payload, payload))
            guard case .fetchDone(let done) = await b.nextSignificant() else { Issue.record("no FETCH_DONE"); return }
            #expect(done.delivered == 1)
        }
    }

    @Test func fetchResumeTakesTheLeaseOverFromALiveConnection() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            let payload = payloadBytes(5000, seed: 12)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted(let accepted) = try await a.upload(requestID: 1, envelope: envelope, payload: payload) else {
                Issue.record("no ACCEPTED")
                return
            }
            let id = accepted.receipt.receipt.messageID
            // The old connection holds the lease (delivered, not acknowledged) and stays open.
            let old = try await server.session(TestPKI.b)
            defer { old.close() }
            try await old.send(.fetch(.init(requestID: 1, maxMessages: 1)))
            _ = try #require(await old.receiveDelivery())
            _ = await old.nextSignificant()  // FETCH_DONE

            // The resuming FETCH is served at once, from the client's offset.
            let new = try await server.session(TestPKI.b)
            defer { new.close() }
            try await new.send(.fetch(.init(requestID: 2, maxMessages: 1, resume: .init(messageID: id, offset: 1200))))
            let delivery = try #require(await new.receiveDelivery())
            #expect(delivery.begin.offset == 1200)
            #expect(sameBytes(delivery.payload, Array(payload[1200...])))
            guard case .fetchDone(let done) = await new.nextSignificant() else { Issue.record("no FETCH_DONE"); return }
            #expect(done.delivered == 1)

            // The lease is the new connection's now: the old one can no longer NACK it.
            try await old.send(.nack(.init(requestID: 3, messageID: id, retryAfterMillis: 0)))
            let refused = try #require(errorFrame(await old.nextSignificant()))
            #expect(refused.code == .unknownMessage)
        }
    }

    @Test func fetchResumeLeasesTheNamedMessageWhereverItIsInTheQueue() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            var ids: [MessageID] = []
            var payloads: [[UInt8]] = []
            for i in 0..<3 {
                let payload = payloadBytes(3000, seed: UInt8(20 + i))
                let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
                guard case .accepted(let accepted) = try await a.upload(requestID: UInt32(1 + i), envelope: envelope, payload: payload)
                else {
                    Issue.record("no ACCEPTED")
                    return
                }
                ids.append(accepted.receipt.receipt.messageID)
                payloads.append(payload)
            }
            // FETCH of one message, resuming the last one: it comes (from the offset), not the head of the queue.
            let b = try await server.session(TestPKI.b)
            defer { b.close() }
            try await b.send(.fetch(.init(requestID: 1, maxMessages: 1, resume: .init(messageID: ids[2], offset: 100))))
            let delivery = try #require(await b.receiveDelivery())
            #expect(delivery.begin.storedEnvelope.messageID == ids[2])
            #expect(delivery.begin.offset == 100)
            #expect(sameBytes(delivery.payload, Array(payloads[2][100...])))
            guard case .fetchDone(let done) = await b.nextSignificant() else { Issue.record("no FETCH_DONE"); return }
            #expect(done.delivered == 1 && done.moreAvailable)
            // The others follow in queue order, each once.
            try await b.send(.fetch(.init(requestID: 2, maxMessages: 5)))
            let next = try #require(await b.receiveDelivery())
            #expect(next.begin.storedEnvelope.messageID == ids[0] && next.begin.offset == 0)
            let last = try #require(await b.receiveDelivery())
            #expect(last.begin.storedEnvelope.messageID == ids[1])
            guard case .fetchDone(let rest) = await b.nextSignificant() else { Issue.record("no FETCH_DONE"); return }
            #expect(rest.delivered == 2)
        }
    }
}
