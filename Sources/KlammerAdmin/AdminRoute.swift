/// A parsed admin API request line (SPEC.md §11): which operation, on which participant. Pure value: parsing
/// decides 404 (no such path) and 405 (path exists, other method) without touching any state.
public enum AdminRoute: Sendable, Equatable {
    /// What to do with a participant's status.
    public enum StatusChange: String, Sendable, Equatable, CaseIterable {
        case suspend, resume, revoke
    }

    case status
    case listParticipants
    case showParticipant(String)
    case addParticipant
    case changeStatus(String, StatusChange)
    case removeParticipant(String)
    case addCertificate(String)
    case removeCertificate(String, fingerprint: String)
    case setPolicy(String)
    case auditTail(count: Int)
    case auditVerify
    case listQueues
    case showQueue(String)
    case peekQueue(String, limit: Int)
    case listDeadLetters(String?, limit: Int)
    case replayDeadLetters(String)
    case purgeQueue(String)
    case traceMessage(String)
    case scrubStore
    case reload

    /// Default and largest `count` of `GET /v1/audit/tail`.
    public static let defaultTailCount = 20
    public static let maximumTailCount = 1000
    /// Default and largest `limit` of the queue listings (`peek`, dead letters).
    public static let defaultListLimit = 100
    public static let maximumListLimit = 10_000

    /// The audit action name of this route (`participant.add`, `status`, …).
    public var action: String {
        switch self {
        case .status: "status"
        case .listParticipants: "participant.list"
        case .showParticipant: "participant.show"
        case .addParticipant: "participant.add"
        case .changeStatus(_, let change): "participant.\(change.rawValue)"
        case .removeParticipant: "participant.remove"
        case .addCertificate: "participant.cert.add"
        case .removeCertificate: "participant.cert.remove"
        case .setPolicy: "participant.policy.set"
        case .auditTail: "audit.tail"
        case .auditVerify: "audit.verify"
        case .listQueues: "queue.list"
        case .showQueue: "queue.stats"
        case .peekQueue: "queue.peek"
        case .listDeadLetters: "dlq.list"
        case .replayDeadLetters: "dlq.replay"
        case .purgeQueue: "queue.purge"
        case .traceMessage: "message.trace"
        case .scrubStore: "store.scrub"
        case .reload: "reload"
        }
    }

    /// The HTTP method of the route's request.
    public var method: String {
        switch self {
        case .status, .listParticipants, .showParticipant, .auditTail, .auditVerify, .listQueues, .showQueue, .peekQueue,
            .listDeadLetters, .traceMessage:
            "GET"
        case .addParticipant, .changeStatus, .addCertificate, .replayDeadLetters, .purgeQueue, .scrubStore, .reload: "POST"
        case .removeParticipant, .removeCertificate: "DELETE"
        case .setPolicy: "PUT"
        }
    }

    /// The request target (path and query) of the route: what ``parse(method:uri:)`` parses back to this route.
    /// Ids are percent-encoded path segments.
    public var path: String {
        func segment(_ text: String) -> String { text.percentEncodedSegment }
        return switch self {
        case .status: "/v1/status"
        case .listParticipants, .addParticipant: "/v1/participants"
        case .showParticipant(let id), .removeParticipant(let id): "/v1/participants/\(segment(id))"
        case .changeStatus(let id, let change): "/v1/participants/\(segment(id))/\(change.rawValue)"
        case .addCertificate(let id): "/v1/participants/\(segment(id))/certificates"
        case .removeCertificate(let id, let fingerprint): "/v1/participants/\(segment(id))/certificates/\(segment(fingerprint))"
        case .setPolicy(let id): "/v1/participants/\(segment(id))/policy"
        case .auditTail(let count): "/v1/audit/tail?count=\(count)"
        case .auditVerify: "/v1/audit/verify"
        case .listQueues: "/v1/queues"
        case .showQueue(let id): "/v1/queues/\(segment(id))"
        case .peekQueue(let id, let limit): "/v1/queues/\(segment(id))/messages?limit=\(limit)"
        case .listDeadLetters(let id?, let limit): "/v1/queues/\(segment(id))/dead-letters?limit=\(limit)"
        case .listDeadLetters(nil, let limit): "/v1/dead-letters?limit=\(limit)"
        case .replayDeadLetters(let id): "/v1/queues/\(segment(id))/dead-letters/replay"
        case .purgeQueue(let id): "/v1/queues/\(segment(id))/purge"
        case .traceMessage(let id): "/v1/messages/\(segment(id))"
        case .scrubStore: "/v1/store/scrub"
        case .reload: "/v1/reload"
        }
    }

    /// Whether the route changes the registry.
    public var isMutation: Bool {
        switch self {
        case .addParticipant, .changeStatus, .removeParticipant, .addCertificate, .removeCertificate, .setPolicy,
            .replayDeadLetters, .purgeQueue, .reload:
            true
        default: false
        }
    }

    /// Parses `method` and `uri` (path plus optional query). A request line that matches no route fails with
    /// ``AdminError/Code/notFound``, ``AdminError/Code/methodNotAllowed`` or ``AdminError/Code/badRequest`` (a bad query).
    public static func parse(method: String, uri: String) -> Result<AdminRoute, AdminError> {
        let pathPart: Substring
        let queryPart: Substring?
        if let question = uri.firstIndex(of: "?") {
            pathPart = uri[..<question]
            queryPart = uri[uri.index(after: question)...]
        } else {
            pathPart = Substring(uri)
            queryPart = nil
        }
        guard pathPart.utf8.count <= 2048 else { return .failure(notFound("a path of \(pathPart.utf8.count) bytes")) }
        var segments: [String] = []
        for raw in pathPart.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = String(raw).removingPercentEncodingSafely else { return .failure(notFound(String(pathPart))) }
            segments.append(decoded)
        }
        let query = parseQuery(queryPart)
        func route(_ allowed: [String: AdminRoute]) -> Result<AdminRoute, AdminError> {
            if let route = allowed[method] { return .success(route) }
            return .failure(
                AdminError(
                    .methodNotAllowed, "\(method.prefix(16)) is not allowed here; use \(allowed.keys.sorted().joined(separator: " or "))"))
        }
        switch segments.count {
        case 2 where segments == ["v1", "status"]:
            return route(["GET": .status])
        case 2 where segments == ["v1", "participants"]:
            return route(["GET": .listParticipants, "POST": .addParticipant])
        case 3 where segments[0] == "v1" && segments[1] == "participants":
            let id = segments[2]
            return route(["GET": .showParticipant(id), "DELETE": .removeParticipant(id)])
        case 4 where segments[0] == "v1" && segments[1] == "participants":
            let id = segments[2]
            if let change = StatusChange(rawValue: segments[3]) { return route(["POST": .changeStatus(id, change)]) }
            if segments[3] == "certificates" { return route(["POST": .addCertificate(id)]) }
            if segments[3] == "policy" { return route(["PUT": .setPolicy(id)]) }
        case 5 where segments[0] == "v1" && segments[1] == "participants" && segments[3] == "certificates":
            return route(["DELETE": .removeCertificate(segments[2], fingerprint: segments[4])])
        case 3 where segments[0] == "v1" && segments[1] == "audit" && segments[2] == "tail":
            var count = defaultTailCount
            if let text = query["count"] {
                guard let value = Int(text), (1...maximumTailCount).contains(value) else {
                    return .failure(AdminError(.badRequest, "count must be a whole number 1…\(maximumTailCount), got '\(text.prefix(32))'"))
                }
                count = value
            }
            return route(["GET": .auditTail(count: count)])
        case 3 where segments[0] == "v1" && segments[1] == "audit" && segments[2] == "verify":
            return route(["GET": .auditVerify])
        case 2 where segments == ["v1", "queues"]:
            return route(["GET": .listQueues])
        case 3 where segments[0] == "v1" && segments[1] == "queues":
            return route(["GET": .showQueue(segments[2])])
        case 4 where segments[0] == "v1" && segments[1] == "queues" && segments[3] == "messages":
            return limit(query).flatMap { route(["GET": .peekQueue(segments[2], limit: $0)]) }
        case 4 where segments[0] == "v1" && segments[1] == "queues" && segments[3] == "dead-letters":
            return limit(query).flatMap { route(["GET": .listDeadLetters(segments[2], limit: $0)]) }
        case 5 where segments[0] == "v1" && segments[1] == "queues" && segments[3] == "dead-letters" && segments[4] == "replay":
            return route(["POST": .replayDeadLetters(segments[2])])
        case 4 where segments[0] == "v1" && segments[1] == "queues" && segments[3] == "purge":
            return route(["POST": .purgeQueue(segments[2])])
        case 2 where segments == ["v1", "dead-letters"]:
            return limit(query).flatMap { route(["GET": .listDeadLetters(nil, limit: $0)]) }
        case 3 where segments[0] == "v1" && segments[1] == "messages":
            return route(["GET": .traceMessage(segments[2])])
        case 3 where segments == ["v1", "store", "scrub"]:
            return route(["POST": .scrubStore])
        case 2 where segments == ["v1", "reload"]:
            return route(["POST": .reload])
        default:
            break
        }
        return .failure(notFound(String(pathPart)))
    }

    private static func notFound(_ path: String) -> AdminError {
        AdminError(.notFound, "no admin endpoint \(path.prefix(256)); SPEC.md §11 lists them (e.g. GET /v1/status)")
    }

    private static func limit(_ query: [String: String]) -> Result<Int, AdminError> {
        guard let text = query["limit"] else { return .success(defaultListLimit) }
        guard let value = Int(text), (1...maximumListLimit).contains(value) else {
            return .failure(AdminError(.badRequest, "limit must be a whole number 1…\(maximumListLimit), got '\(text.prefix(32))'"))
        }
        return .success(value)
    }

    private static func parseQuery(_ query: Substring?) -> [String: String] {
        guard let query else { return [:] }
        var result: [String: String] = [:]
        for pair in query.split(separator: "&").prefix(16) {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard let key = parts.first else { continue }
            result[String(key)] = parts.count > 1 ? String(parts[1]).removingPercentEncodingSafely : ""
        }
        return result
    }
}

extension String {
    /// Percent-encoding of one path segment without Foundation: letters, digits and `-._~:` stay (participant ids
    /// contain ':'), every other byte becomes `%XX`.
    var percentEncodedSegment: String {
        var result = ""
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = Array("0123456789ABCDEF".unicodeScalars)
                result.unicodeScalars.append("%")
                result.unicodeScalars.append(digits[Int(byte >> 4)])
                result.unicodeScalars.append(digits[Int(byte & 0x0F)])
            }
        }
        return result
    }

    /// Percent-decoding without Foundation: `nil` for a malformed escape or invalid UTF-8.
    var removingPercentEncodingSafely: String? {
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                    return nil
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
