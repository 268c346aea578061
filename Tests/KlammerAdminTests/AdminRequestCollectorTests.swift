@testable import KlammerAdmin
import NIOCore
import NIOHTTP1
import Testing

/// The request state machine: one bounded request, then nothing more.
struct AdminRequestCollectorTests {
    func head(_ method: HTTPMethod, _ uri: String, contentLength: Int? = nil, major: Int = 1) -> HTTPServerRequestPart {
        var headers = HTTPHeaders()
        if let contentLength { headers.add(name: "Content-Length", value: "\(contentLength)") }
        return .head(HTTPRequestHead(version: .init(major: major, minor: 1), method: method, uri: uri, headers: headers))
    }

    @Test func collectsHeadAndBodyThenDispatchesOnce() {
        var collector = AdminRequestCollector()
        #expect(collector.receive(head(.POST, "/v1/participants", contentLength: 4)) == .none)
        #expect(collector.receive(.body(ByteBuffer(string: "{}"))) == .none)
        #expect(collector.receive(.body(ByteBuffer(string: "{}"))) == .none)
        #expect(collector.receive(.end(nil)) == .dispatch(method: "POST", uri: "/v1/participants", body: Array("{}{}".utf8)))
        // A pipelined second request on the same connection is ignored (one request per connection).
        #expect(collector.receive(head(.GET, "/v1/status")) == .none)
        #expect(collector.receive(.end(nil)) == .none)
    }

    @Test func refusesOversizedBodiesAndOtherVersions() {
        var declared = AdminRequestCollector()
        guard case .reject(let error) = declared.receive(head(.POST, "/", contentLength: AdminRequestCollector.maximumBodyBytes + 1)),
            error.status == 413
        else {
            Issue.record("a declared oversized body must be refused")
            return
        }
        var streamed = AdminRequestCollector()
        _ = streamed.receive(head(.POST, "/"))
        let chunk = ByteBuffer(repeating: 0x41, count: 64 * 1024)
        var last = AdminRequestCollector.Action.none
        for _ in 0..<5 { last = streamed.receive(.body(chunk)) }
        guard case .reject(let error) = last, error.status == 413 else {
            Issue.record("a streamed oversized body must be refused, got \(last)")
            return
        }
        var old = AdminRequestCollector()
        guard case .reject(let error) = old.receive(head(.GET, "/v1/status", major: 2)), error.status == 505 else {
            Issue.record("HTTP/2 must be refused")
            return
        }
        var bodyFirst = AdminRequestCollector()
        guard case .reject(let error) = bodyFirst.receive(.body(ByteBuffer(string: "x"))), error.status == 400 else {
            Issue.record("a body before the head is malformed")
            return
        }
    }
}
