public import Foundation

/// Every failure of the admin API, on both ends: what the daemon answers (HTTP status and
/// `{"error": {"code": "…", "message": "…"}}`, SPEC.md §11.3), what `klammerctl` throws when it cannot reach the
/// daemon or cannot read its answer, and why the admin listener cannot start.
///
/// The message says what is wrong and what to do; the code is stable for scripts.
public struct AdminError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable identifier of a failure, with the HTTP status the daemon answers it with.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The wire name (`unknown-participant`, …).
        public let name: String
        /// The HTTP status of an answer with this code; nil for failures that are no answer (client, listener).
        public let status: Int?

        init(_ name: String, status: Int?) {
            self.name = name
            self.status = status
        }

        public var description: String { name }

        /// Codes are equal by name: a decoded answer's code equals the constant whatever its status.
        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.name == rhs.name }
        public func hash(into hasher: inout Hasher) { hasher.combine(name) }

        // MARK: Answers: the request

        /// 404: no admin endpoint has this path (SPEC.md §11 lists them).
        public static let notFound = Code("not-found", status: 404)
        /// 405: the path exists, the method does not (the message names the allowed ones).
        public static let methodNotAllowed = Code("method-not-allowed", status: 405)
        /// 400: a malformed request line, query, body or id (the message says which).
        public static let badRequest = Code("bad-request", status: 400)
        /// 413: the request body is larger than the admin API accepts.
        public static let tooLarge = Code("too-large", status: 413)
        /// 505: the request is not HTTP/1.x.
        public static let httpVersion = Code("http-version", status: 505)
        /// 403: the caller is not admitted (Unix socket: another uid than the daemon's; TLS: not authorized).
        public static let forbidden = Code("forbidden", status: 403)

        // MARK: Answers: participants and certificates

        /// 404: no participant with this id is registered.
        public static let unknownParticipant = Code("unknown-participant", status: 404)
        /// 404: the participant has no certificate with this fingerprint.
        public static let unknownCertificate = Code("unknown-certificate", status: 404)
        /// 409: a participant with this id is registered already.
        public static let participantExists = Code("participant-exists", status: 409)
        /// 409: the certificate is registered to a participant already.
        public static let certificateInUse = Code("certificate-in-use", status: 409)
        /// 409: the status change is not allowed (a revoked participant stays revoked).
        public static let invalidTransition = Code("invalid-transition", status: 409)
        /// 409: removing this certificate would leave an active participant without any.
        public static let lastCertificate = Code("last-certificate", status: 409)
        /// 400: the id is not a valid participant id (SPEC.md §3).
        public static let invalidParticipantID = Code("invalid-participant-id", status: 400)
        /// 400: a routing pattern is not valid.
        public static let invalidPolicy = Code("invalid-policy", status: 400)
        /// 400: a registry bound (participants, certificates, patterns) would be exceeded.
        public static let limitExceeded = Code("limit-exceeded", status: 400)
        /// 400: the PEM is not exactly one parseable leaf certificate for this participant.
        public static let badCertificate = Code("bad-certificate", status: 400)
        /// 400: the certificate does not chain to the broker's CA for TLS client use, or is revoked.
        public static let untrustedCertificate = Code("untrusted-certificate", status: 400)

        // MARK: Answers: queues, messages, store, reload

        /// 404: no queue has this id and no participant is registered with it.
        public static let unknownQueue = Code("unknown-queue", status: 404)
        /// 404 (trace) or 400 (replay, purge): no such message.
        public static let unknownMessage = Code("unknown-message", status: 404)
        /// 400: a purge without `{"confirm": true}`.
        public static let confirmationRequired = Code("confirmation-required", status: 400)
        /// 503: the broker core is starting or stopping; try again.
        public static let brokerUnavailable = Code("broker-unavailable", status: 503)
        /// 501: this daemon cannot reload (restart it instead).
        public static let notSupported = Code("not-supported", status: 501)
        /// 400: the reload found an invalid file or configuration; nothing was changed.
        public static let reloadFailed = Code("reload-failed", status: 400)

        // MARK: Answers: the daemon

        /// 503: the audit log cannot be written; nothing is done until klammerd restarts on a working disk.
        public static let auditUnavailable = Code("audit-unavailable", status: 503)
        /// 500: the call could not be recorded in the audit log (the message says whether it was applied).
        public static let auditFailed = Code("audit-failed", status: 500)
        /// 503: the admin API is shutting down.
        public static let shuttingDown = Code("shutting-down", status: 503)
        /// 500: a disk operation of the registry failed.
        public static let io = Code("io", status: 500)
        /// 500: an unexpected failure (the message carries it).
        public static let `internal` = Code("internal", status: 500)

        // MARK: No answer

        /// klammerctl cannot reach klammerd (socket missing, refused, wrong user; TLS connect or handshake failed).
        public static let unreachable = Code("unreachable", status: nil)
        /// klammerd did not answer in time.
        public static let timeout = Code("timeout", status: nil)
        /// The answer is not HTTP, too large, or not the JSON the call expects.
        public static let badResponse = Code("bad-response", status: nil)
        /// The caller's own setup is unusable (admin URL, TLS material, socket path).
        public static let invalidSetup = Code("invalid-setup", status: nil)
        /// The admin listener cannot start (socket in use, not writable, port taken).
        public static let listenFailed = Code("listen-failed", status: nil)
    }

    public let code: Code
    public let message: String
    /// The HTTP status of the answer: the code's, or the one the daemon actually sent (for a decoded answer).
    public let status: Int?

    init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status ?? code.status
    }

    /// An answer's error shows its code (`… (unknown-participant)`); a failure without an answer only its message.
    public var description: String { code.status == nil ? message : "\(message) (\(code.name))" }

    /// Wire form of an error answer: `{"error": {"code": "…", "message": "…"}}`.
    struct Body: Codable {
        struct Detail: Codable {
            var code: String
            var message: String
        }

        var error: Detail
    }

    /// The answer's body (pretty JSON, like every admin answer).
    var body: Body { Body(error: .init(code: code.name, message: message)) }

    /// The error an answer with HTTP `status` carries, nil if `body` is not an error body.
    public static func decode(status: Int, body: [UInt8]) -> AdminError? {
        guard let decoded = try? AdminJSON.decoder().decode(Body.self, from: Data(body)) else { return nil }
        return AdminError(Code(decoded.error.code, status: status), decoded.error.message, status: status)
    }
}
