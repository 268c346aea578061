import Foundation
@testable import KlammerAdmin
import Testing

/// The one admin error type: its wire form (SPEC.md §11.3) and how it reads.
struct AdminErrorTests {
    @Test func answersCarryTheirCodeAndStatusAndRoundTrip() throws {
        let error = AdminError(.unknownParticipant, "no participant ags:1 is registered")
        #expect(error.status == 404)
        let response = AdminService.error(error)
        #expect(response.status == 404)
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: [String: String]]
        #expect(json == ["error": ["code": "unknown-participant", "message": "no participant ags:1 is registered"]])
        let decoded = try #require(AdminError.decode(status: response.status, body: response.body))
        #expect(decoded == error)
        #expect(decoded.description == "no participant ags:1 is registered (unknown-participant)")
        #expect(AdminError.decode(status: 500, body: Array("not json".utf8)) == nil)
    }

    @Test func aStatusOverridesTheCodesAndEqualityIsByName() {
        let purge = AdminError(.unknownMessage, "no such message", status: 400)
        #expect(purge.status == 400 && purge.code == .unknownMessage)
        // A failure without an answer reads as its message alone (klammerctl prints it as before).
        let local = AdminError(.unreachable, "cannot connect to the admin socket /x")
        #expect(local.status == nil && local.description == "cannot connect to the admin socket /x")
    }

    @Test func auditOutcomes() {
        #expect(AdminService.outcome(AdminError(.badRequest, "x")) == .refused)
        #expect(AdminService.outcome(AdminError(.brokerUnavailable, "x")) == .failed)
        #expect(AdminService.outcome(AdminError(.reloadFailed, "x")) == .failed)
        #expect(AdminService.outcome(AdminError(.notSupported, "x")) == .refused)
        #expect(AdminService.outcome(AdminService.map(CocoaError(.fileNoSuchFile))) == .failed)
    }
}
