import KlammerAdmin
import Testing

/// Request-line parsing of the admin API: every endpoint of SPEC.md §11, 404 and 405.
struct AdminRouteTests {
    func route(_ method: String, _ uri: String) -> AdminRoute? {
        try? AdminRoute.parse(method: method, uri: uri).get()
    }

    /// The refusal of a request line: its code and message.
    func refusal(_ method: String, _ uri: String) -> (code: AdminError.Code, message: String)? {
        guard case .failure(let error) = AdminRoute.parse(method: method, uri: uri) else { return nil }
        return (error.code, error.message)
    }

    @Test func everyEndpointParses() {
        #expect(route("GET", "/v1/status") == .status)
        #expect(route("GET", "/v1/participants") == .listParticipants)
        #expect(route("POST", "/v1/participants") == .addParticipant)
        #expect(route("GET", "/v1/participants/ags:13004000") == .showParticipant("ags:13004000"))
        #expect(route("GET", "/v1/participants/ags%3A13004000") == .showParticipant("ags:13004000"))
        #expect(route("DELETE", "/v1/participants/ags:13004000") == .removeParticipant("ags:13004000"))
        #expect(route("POST", "/v1/participants/ags:1/suspend") == .changeStatus("ags:1", .suspend))
        #expect(route("POST", "/v1/participants/ags:1/resume") == .changeStatus("ags:1", .resume))
        #expect(route("POST", "/v1/participants/ags:1/revoke") == .changeStatus("ags:1", .revoke))
        #expect(route("POST", "/v1/participants/ags:1/certificates") == .addCertificate("ags:1"))
        #expect(route("DELETE", "/v1/participants/ags:1/certificates/abcd") == .removeCertificate("ags:1", fingerprint: "abcd"))
        #expect(route("PUT", "/v1/participants/ags:1/policy") == .setPolicy("ags:1"))
        #expect(route("GET", "/v1/audit/tail") == .auditTail(count: AdminRoute.defaultTailCount))
        #expect(route("GET", "/v1/audit/tail?count=5") == .auditTail(count: 5))
        #expect(route("GET", "/v1/audit/verify") == .auditVerify)
    }

    @Test func operationEndpointsParse() {
        #expect(route("GET", "/v1/queues") == .listQueues)
        #expect(route("GET", "/v1/queues/ags:1") == .showQueue("ags:1"))
        #expect(route("GET", "/v1/queues/ags:1/messages") == .peekQueue("ags:1", limit: AdminRoute.defaultListLimit))
        #expect(route("GET", "/v1/queues/ags:1/messages?limit=7") == .peekQueue("ags:1", limit: 7))
        #expect(route("GET", "/v1/queues/ags:1/dead-letters") == .listDeadLetters("ags:1", limit: AdminRoute.defaultListLimit))
        #expect(route("GET", "/v1/dead-letters?limit=3") == .listDeadLetters(nil, limit: 3))
        #expect(route("POST", "/v1/queues/ags:1/dead-letters/replay") == .replayDeadLetters("ags:1"))
        #expect(route("POST", "/v1/queues/ags:1/purge") == .purgeQueue("ags:1"))
        #expect(route("GET", "/v1/messages/00112233445566778899aabbccddeeff") == .traceMessage("00112233445566778899aabbccddeeff"))
        #expect(route("POST", "/v1/store/scrub") == .scrubStore)
        #expect(route("POST", "/v1/reload") == .reload)
        // Reads are not mutations; replay, purge and reload are.
        #expect(!AdminRoute.listQueues.isMutation && AdminRoute.purgeQueue("x").isMutation && AdminRoute.reload.isMutation)
        #expect(refusal("GET", "/v1/queues/ags:1/purge")?.message == "GET is not allowed here; use POST")
        #expect(refusal("GET", "/v1/queues/ags:1/messages?limit=0")?.message == "limit must be a whole number 1…10000, got '0'")
    }

    @Test func refusals() {
        #expect(refusal("GET", "/v1/nothing")?.code == .notFound)
        #expect(refusal("DELETE", "/v1/status")?.code == .methodNotAllowed)
        #expect(refusal("GET", "/v1/audit/tail?count=0")?.code == .badRequest)
        #expect(refusal("GET", "/v1/nothing")?.message == "no admin endpoint /v1/nothing; SPEC.md §11 lists them (e.g. GET /v1/status)")
        #expect(refusal("GET", "/v2/status")?.message == "no admin endpoint /v2/status; SPEC.md §11 lists them (e.g. GET /v1/status)")
        #expect(refusal("DELETE", "/v1/status")?.message == "DELETE is not allowed here; use GET")
        #expect(refusal("PUT", "/v1/participants")?.message == "PUT is not allowed here; use GET or POST")
        #expect(refusal("GET", "/v1/participants/ags:1/suspend")?.message == "GET is not allowed here; use POST")
        #expect(refusal("GET", "/v1/audit/tail?count=0")?.message == "count must be a whole number 1…1000, got '0'")
        #expect(AdminRoute.parse(method: "GET", uri: "/v1/audit/tail?count=1001") != .success(.auditTail(count: 1001)))
        #expect(
            refusal("GET", "/v1/participants/bad%zz")?.message
                == "no admin endpoint /v1/participants/bad%zz; SPEC.md §11 lists them (e.g. GET /v1/status)")
    }

    /// What klammerctl sends is what the daemon parses: every route renders a method and path that parse back to
    /// it, also with ids that need percent-encoding.
    @Test func everyRouteRendersARequestThatParsesBack() {
        let id = "ags:13/0 4?%ü"
        let routes: [AdminRoute] = [
            .status, .listParticipants, .showParticipant(id), .addParticipant, .changeStatus(id, .suspend),
            .changeStatus(id, .resume), .changeStatus(id, .revoke), .removeParticipant(id), .addCertificate(id),
            .removeCertificate(id, fingerprint: "ab:cd"), .setPolicy(id), .auditTail(count: 7), .auditVerify, .listQueues,
            .showQueue(id), .peekQueue(id, limit: 3), .listDeadLetters(id, limit: 4), .listDeadLetters(nil, limit: 5),
            .replayDeadLetters(id), .purgeQueue(id), .traceMessage("00112233445566778899aabbccddeeff"), .scrubStore, .reload
        ]
        for route in routes {
            #expect(AdminRoute.parse(method: route.method, uri: route.path) == .success(route), "\(route.method) \(route.path)")
        }
        #expect(AdminRoute.showParticipant("ags:1").path == "/v1/participants/ags:1")
        #expect(AdminRoute.showParticipant("a/b").path == "/v1/participants/a%2Fb")
        #expect(AdminRoute.removeParticipant("ags:1").method == "DELETE" && AdminRoute.setPolicy("x").method == "PUT")
    }

    @Test func actionsAndMutations() {
        #expect(AdminRoute.addParticipant.action == "participant.add")
        #expect(AdminRoute.changeStatus("a:1", .suspend).action == "participant.suspend")
        #expect(AdminRoute.removeCertificate("a:1", fingerprint: "x").action == "participant.cert.remove")
        #expect(AdminRoute.setPolicy("a:1").isMutation)
        #expect(!AdminRoute.listParticipants.isMutation)
        #expect(!AdminRoute.auditVerify.isMutation)
    }
}
