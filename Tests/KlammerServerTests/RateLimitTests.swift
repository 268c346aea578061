import Foundation
import KlammerCrypto
import KlammerProtocol
@testable import KlammerServer
import Synchronization
import Testing

/// Request rates and refusal budgets (issue 14, item 8; SPEC.md §9.3, §10.4).
@Suite struct RateLimitTests {
    @Test func tokenBucketRefillsAtItsRateUpToTheBurst() {
        var bucket = TokenBucket(ratePerSecond: 10, burst: 3)
        var taken: [Bool] = []
        for _ in 0..<4 { taken.append(bucket.take(now: 0)) }
        #expect(taken == [true, true, true, false])
        #expect(bucket.millisUntilNext(now: 0) == 100)
        let early = bucket.take(now: 50), onTime = bucket.take(now: 100)
        #expect(!early && onTime)
        // A long pause refills to the burst, not beyond.
        taken = []
        for _ in 0..<4 { taken.append(bucket.take(now: 60_000)) }
        #expect(taken == [true, true, true, false])
        var off = TokenBucket(ratePerSecond: 0, burst: 1)
        var all = true
        for _ in 0..<1000 { all = all && off.take(now: 0) }
        #expect(all)
    }

    @Test func requestsPerParticipantAreRateLimitedWithARetryHint() throws {
        let limiter = RequestRateLimiter(perSecond: 5, burst: 10)
        let a = try ParticipantID("ags:13004000"), b = try ParticipantID("ags:09162000")
        #expect((0..<10).allSatisfy { _ in limiter.admit(a, now: 0) == nil })
        let refused = try #require(limiter.admit(a, now: 0))
        #expect(refused.code == .rateLimited && refused.code.isRetryable)
        #expect(refused.message.contains("retry after 200 ms") && refused.message.contains("limits.max_requests_per_second"))
        #expect(limiter.admit(b, now: 0) == nil, "another participant has its own bucket")
        #expect(limiter.admit(a, now: 200) == nil)
    }

    /// The budget records `2 × perSecond` refusals at once, then one aggregate and nothing more.
    @Test func refusalBudgetAggregatesAndClosesOnce() throws {
        let budget = RefusalBudget(perSecond: 10)
        let decisions = (0..<25).map { _ in budget.refusal(now: 0) }
        #expect(decisions.prefix(20).allSatisfy { $0 == .record })
        #expect(decisions[20] == .exhausted(refused: 21))
        #expect(decisions.suffix(4).allSatisfy { $0 == .suppress })
        #expect(budget.refusal(now: 60_000) == .suppress, "an exhausted connection stays exhausted until it is closed")

        let events = Mutex<[RefusalEvent]>([])
        let closes = Mutex<[ProtocolError]>([])
        let reporter = RefusalReporter(
            fingerprint: "ab", participant: "ags:13004000", report: { e in events.withLock { $0.append(e) } },
            budget: RefusalBudget(perSecond: 10), onExhausted: { e in closes.withLock { $0.append(e) } })
        for i in 0..<100 {
            reporter.submission(requestID: UInt32(i + 1), ProtocolError(.impersonation, "no"), envelope: nil)
        }
        let reported = events.withLock { $0 }
        #expect((21...23).contains(reported.count), "\(reported.count) audit events for 100 refusals")
        #expect(reported.filter { $0.kind == .refusalsExceeded }.count == 1)
        #expect(reported.last?.kind == .refusalsExceeded && reported.last?.code == .rateLimited)
        #expect(closes.withLock { $0.map(\.code) } == [.rateLimited])
    }

    @Test func exhaustedBudgetClosesTheConnection() throws {
        var (m, _, dir) = try BrokerSessionStateMachineTests.open()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let actions = m.requestResult(.refusalBudgetExhausted(error: ProtocolError(.rateLimited, "too many refusals")), now: 1)
        #expect(BrokerSessionStateMachineTests.failure(actions)?.code == .rateLimited)
        #expect(m.phase == .closed)
    }

    /// Against a real session: a client looping refused submissions (impersonation) gets its first 20 refusals
    /// audited, then one aggregate entry, and the connection is closed with RATE_LIMITED.
    @Test func refusalLoopIsCutAndAggregated() async throws {
        try await withServer { server in
            let reports = RefusedParticipantTests.Reports()
            server.daemon.hub.onRefusal { event in reports.events.withLock { $0.append(event) } }
            let client = try await server.session(TestPKI.a)
            defer { client.close() }
            for i in 1...60 {
                let envelope = try makeEnvelope(from: TestPKI.b, to: [TestPKI.c], payload: [UInt8(i)])
                do { try await client.send(.sendBegin(.init(requestID: UInt32(i), signatureForm: .single, envelope: envelope))) } catch {
                    break
                }
            }
            let frames = try #require(await client.framesUntilClosed(timeout: .seconds(10)), "the connection was not closed")
            let closing = frames.compactMap { f -> Frame.ErrorFrame? in
                if case .error(let e) = f, e.requestID == 0 { return e }; return nil
            }
            #expect(closing.map(\.code) == [.rateLimited])
            let aggregate = try #require(await reports.wait(for: .refusalsExceeded, code: .rateLimited))
            #expect(aggregate.details["last_code"] == ErrorCode.impersonation.name)
            let submissions = reports.events.withLock { $0.filter { $0.kind == .submission }.count }
            #expect((20...22).contains(submissions), "\(submissions) submission refusals audited")
        }
    }
}
