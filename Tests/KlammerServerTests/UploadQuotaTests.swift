import KlammerProtocol
@testable import KlammerServer
import Testing

/// Open uploads per participant over all its connections and broker-wide (issue 14, item 7; SPEC.md §9.4).
struct UploadQuotaTests {
    @Test func perParticipantAndTotalLimits() throws {
        let quota = UploadQuota(perParticipant: 2, total: 3)
        let a = try ParticipantID("ags:13004000"), b = try ParticipantID("ags:09162000"), c = try ParticipantID("ags:11000000")
        #expect(quota.acquire(a) == nil && quota.acquire(a) == nil)
        let third = try #require(quota.acquire(a))
        #expect(third.code == .quotaExceeded && third.message.contains("limits.max_open_uploads_per_participant"))
        #expect(quota.acquire(b) == nil)
        let full = try #require(quota.acquire(c))
        #expect(full.code == .quotaExceeded && full.message.contains("limits.max_open_uploads"))
        #expect(quota.count() == 3 && quota.count(of: a) == 2)
        quota.release(a, count: 2)
        #expect(quota.count(of: a) == 0 && quota.count() == 1)
        #expect(quota.acquire(c) == nil)
    }
}
