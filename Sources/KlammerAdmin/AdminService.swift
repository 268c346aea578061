public import Foundation
public import KlammerAudit
public import KlammerBroker
public import KlammerCrypto
import Synchronization

/// Carries out admin API calls against the participant registry and records every call, with the caller's
/// kernel-reported uid and pid, in the audit log (SPEC.md §11).
///
/// `handle` blocks (registry and audit writes fsync): the HTTP handler runs it on NIO's blocking thread pool.
public final class AdminService: Sendable {
    /// An HTTP answer: status code and JSON body.
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var body: [UInt8]
    }

    public let registry: ParticipantRegistry
    public let audit: AuditLog
    let brokerID: String
    let mode: String
    let version: String
    let startedAt: Date
    /// Live connections, TLS material and directories of the running daemon, for `status`.
    let probe: AdminDaemonProbe?
    private var trustStore: TrustStore? { trustStoreBox.withLock { $0 } }
    private let trustStoreBox: Mutex<TrustStore?>
    private let brokerCertificate: Certificate?
    /// The running broker core (queues, routing slips, store), nil while it is not running.
    let brokerProvider: @Sendable () -> Broker?
    /// Re-reads TLS material and configuration (`POST /v1/reload`); nil where the daemon cannot reload.
    let reloader: (@Sendable () throws -> AdminReloadView)?
    /// One call at a time, so the audit log's order is the order in which changes happened.
    private let serial = Mutex(())

    /// - Parameters:
    ///   - trustStore: if given, a certificate must chain to it (TLS client purpose, current CRLs) to be registered.
    ///   - brokerCertificate: verifies audit checkpoints in `GET /v1/audit/verify`.
    ///   - mode: `production` or `dev`, shown by `status`.
    ///   - broker: the running broker core, for the queue, message and store operations.
    ///   - reload: carries out `POST /v1/reload`.
    ///   - probe: live connections, certificates and directories for `status` (without it, `status` shows the
    ///     registry, audit and queue figures only).
    public init(
        registry: ParticipantRegistry, audit: AuditLog, brokerID: String, version: String, mode: String,
        trustStore: TrustStore?, brokerCertificate: Certificate?, startedAt: Date = Date(),
        broker: @escaping @Sendable () -> Broker? = { nil },
        reload: (@Sendable () throws -> AdminReloadView)? = nil,
        probe: AdminDaemonProbe? = nil
    ) {
        self.probe = probe
        self.brokerProvider = broker
        self.reloader = reload
        self.registry = registry
        self.audit = audit
        self.brokerID = brokerID
        self.version = version
        self.mode = mode
        self.trustStoreBox = Mutex(trustStore)
        self.brokerCertificate = brokerCertificate
        self.startedAt = startedAt
    }

    /// How the audit log records a failed call: `failed` when the daemon could not do what was asked (a 5xx, a
    /// reload that found invalid files), `refused` when the request itself was wrong.
    static func outcome(_ error: AdminError) -> AuditEntry.Outcome {
        if error.code == .reloadFailed { return .failed }
        if error.code == .notSupported { return .refused }
        return (error.status ?? 500) >= 500 ? .failed : .refused
    }

    /// Replaces the trust store new certificates are checked against (after a reload re-read the CA bundle and CRLs).
    public func updateTrustStore(_ trustStore: TrustStore?) {
        trustStoreBox.withLock { $0 = trustStore }
    }

    /// Handles one request from `peer`. Every call, also a refused or failed one, ends in one audit entry.
    public func handle(method: String, uri: String, body: [UInt8], peer: PeerCredentials) -> Response {
        handle(method: method, uri: uri, body: body, actor: peer.description)
    }

    /// Handles one request from an already admitted caller named `actor` in the audit log (`uid:… pid:…` on the
    /// Unix socket, `tls:<fingerprint> <subject>` over mutual TLS).
    public func handle(method: String, uri: String, body: [UInt8], actor: String) -> Response {
        serial.withLock { _ in handleSerially(method: method, uri: uri, body: body, actor: actor) }
    }

    private func handleSerially(method: String, uri: String, body: [UInt8], actor: String) -> Response {
        let route: AdminRoute
        switch AdminRoute.parse(method: method, uri: uri) {
        case .success(let parsed):
            route = parsed
        case .failure(let error):
            return recordUnrouted(method: method, uri: uri, actor: actor, error)
        }
        var subject = route.subject
        if case .addParticipant = route, let request = try? Self.decode(AddParticipantRequest.self, body) {
            subject = String(request.id.prefix(AuditLog.maximumFieldBytes / 2))
        }
        if audit.isPoisoned {
            // Nothing happens without its audit entry: refuse before changing (or showing) anything.
            return Self.error(
                AdminError(
                    .auditUnavailable, "the audit log cannot be written (an earlier write failed); restart klammerd after fixing the disk"))
        }
        let result: Result<(Response, [String: String]), AdminError>
        do {
            result = .success(try perform(route, body: body))
        } catch let failure as AdminError {
            result = .failure(failure)
        } catch {
            result = .failure(Self.map(error))
        }
        switch result {
        case .success(let (response, details)):
            do {
                try audit.append(actor: actor, action: route.action, subject: subject, outcome: .ok, details: details)
            } catch {
                let applied = route.isMutation ? "the change was applied but " : ""
                return Self.error(AdminError(.auditFailed, "\(applied)the call could not be recorded in the audit log: \(error)"))
            }
            return response
        case .failure(let failure):
            _ = try? audit.append(
                actor: actor, action: route.action, subject: subject, outcome: Self.outcome(failure),
                details: ["code": failure.code.name, "error": failure.message])
            return Self.error(failure)
        }
    }

    /// Records a refused connection (a peer whose uid is not the daemon's) and answers 403.
    public func refuse(peer: PeerCredentials?, expectedUID: UInt32) -> Response {
        serial.withLock { _ in refuseSerially(peer: peer, expectedUID: expectedUID) }
    }

    /// Records a refused mutual-TLS admin connection (a certificate that is not listed in
    /// `admin.tls.client_fingerprints`); the connection itself is closed by the TLS layer.
    public func refuseCertificate(actor: String) {
        serial.withLock { _ in
            _ = try? audit.append(
                actor: actor, action: "admin.connect", outcome: .refused,
                details: ["reason": "the client certificate is not listed in admin.tls.client_fingerprints"])
        }
    }

    private func refuseSerially(peer: PeerCredentials?, expectedUID: UInt32) -> Response {
        let who = peer?.description ?? "unknown peer"
        _ = try? audit.append(
            actor: who, action: "admin.connect", outcome: .refused,
            details: ["reason": "peer uid is not the daemon's uid \(expectedUID)"])
        return Self.error(
            AdminError(
                .forbidden,
                "only uid \(expectedUID) (the user klammerd runs as) may use the admin socket; you are \(who). Run klammerctl as that user."
            ))
    }

    private func recordUnrouted(method: String, uri: String, actor: String, _ error: AdminError) -> Response {
        let shortURI = String(uri.prefix(256))
        _ = try? audit.append(
            actor: actor, action: "admin.request", subject: "", outcome: .refused,
            details: ["method": String(method.prefix(16)), "uri": shortURI, "code": error.code.name])
        return Self.error(error)
    }

    // MARK: Operations

    private func perform(_ route: AdminRoute, body: [UInt8]) throws -> (Response, [String: String]) {
        switch route {
        case .status:
            return (try Self.json(200, statusView()), [:])
        case .listParticipants:
            return (try Self.json(200, registry.all().map(AdminParticipantView.init)), [:])
        case .showParticipant(let id):
            return (try Self.json(200, AdminParticipantView(try participant(id))), [:])
        case .addParticipant:
            let request = try Self.decode(AddParticipantRequest.self, body)
            let certificate = try checkedCertificate(request.certificatePem, for: request.id)
            let policy = try request.policy.map { try RoutingPolicy(allow: $0) } ?? .allowAll
            let added = try registry.add(id: request.id, name: request.name, certificate: certificate, policy: policy)
            return (
                try Self.json(201, AdminParticipantView(added)),
                ["name": request.name, "fingerprint": certificate.fingerprint.hex, "policy": policy.description]
            )
        case .changeStatus(let id, let change):
            let before = try participant(id).status
            let status: Participant.Status =
                switch change {
                case .suspend: .suspended
                case .resume: .active
                case .revoke: .revoked
                }
            if change == .resume && before == .active {
                return (try Self.json(200, AdminParticipantView(try participant(id))), ["from": before.rawValue, "to": before.rawValue])
            }
            let after = try registry.setStatus(status, of: id)
            return (try Self.json(200, AdminParticipantView(after)), ["from": before.rawValue, "to": after.status.rawValue])
        case .removeParticipant(let id):
            let existing = try participant(id)
            try registry.remove(id: id)
            return (
                try Self.json(200, RemovedParticipantResponse(removed: id)),
                ["name": existing.name, "certificates": existing.certificates.map(\.fingerprint).joined(separator: ",")]
            )
        case .addCertificate(let id):
            let request = try Self.decode(AddCertificateRequest.self, body)
            _ = try participant(id)
            let certificate = try checkedCertificate(request.certificatePem, for: id)
            let updated = try registry.addCertificate(certificate, to: id)
            return (try Self.json(200, AdminParticipantView(updated)), ["fingerprint": certificate.fingerprint.hex])
        case .removeCertificate(let id, let fingerprintText):
            guard let fingerprint = CertificateFingerprint(hex: fingerprintText) else {
                throw AdminError(
                    .badRequest, "'\(fingerprintText.prefix(100))' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
            }
            let existing = try participant(id)
            if existing.certificates.count == 1, existing.certificates[0].fingerprint == fingerprint.hex, existing.status == .active {
                throw AdminError(
                    .lastCertificate,
                    "\(fingerprint.hex) is the only certificate of active participant \(id); add its successor first ('participant cert add'), or suspend the participant"
                )
            }
            let updated = try registry.removeCertificate(fingerprint: fingerprint, from: id)
            return (try Self.json(200, AdminParticipantView(updated)), ["fingerprint": fingerprint.hex])
        case .setPolicy(let id):
            let request = try Self.decode(SetPolicyRequest.self, body)
            let before = try participant(id).policy
            let updated = try registry.setPolicy(try RoutingPolicy(allow: request.allow), of: id)
            return (try Self.json(200, AdminParticipantView(updated)), ["from": before.description, "to": updated.policy.description])
        case .auditTail(let count):
            return (try Self.json(200, try AuditLog.tail(path: audit.path, count: count)), ["count": "\(count)"])
        case .auditVerify:
            // The file alone cannot show entries cut off its end; the daemon knows how far it wrote. Taken before
            // reading, so entries appended by concurrent calls during the check cannot look like a loss.
            let written = audit.lastSequence
            var report = try AuditVerifier.verify(path: audit.path, brokerCertificate: brokerCertificate)
            if report.problem == nil, report.lastSequence < written {
                report.problem = .init(
                    kind: .missing, line: report.entries + 1, sequence: report.lastSequence + 1,
                    message:
                        "the log ends at entry \(report.lastSequence) but klammerd wrote up to entry \(written): entries were removed from the end"
                )
            }
            let details = ["intact": "\(report.isIntact)", "last_sequence": "\(report.lastSequence)"]
            return (try Self.json(report.isIntact ? 200 : 409, report), details)
        case .listQueues, .showQueue, .peekQueue, .listDeadLetters, .replayDeadLetters, .purgeQueue, .traceMessage,
            .scrubStore, .reload:
            return try performOperation(route, body: body)
        }
    }

    private func participant(_ id: String) throws -> Participant {
        guard let participant = registry.participant(id: id) else {
            throw AdminError(.unknownParticipant, "no participant \(id) is registered; 'klammerctl participant list' shows who is")
        }
        return participant
    }

    /// Parses the PEM and checks it can identify `id`: one certificate, not a CA, its participant SAN (if any) is
    /// `id`, and (with a trust store) it chains to the configured CA for TLS client use and is not revoked.
    private func checkedCertificate(_ pem: String, for id: String) throws -> Certificate {
        guard pem.utf8.count <= 64 * 1024 else {
            throw AdminError(.badCertificate, "the certificate PEM is larger than 64 KiB")
        }
        let certificates: [Certificate]
        do {
            certificates = try Certificate.parseAll(pem: pem)
        } catch {
            throw AdminError(.badCertificate, "the certificate cannot be parsed: \(error)")
        }
        guard certificates.count == 1, let certificate = certificates.first else {
            throw AdminError(.badCertificate, "expected exactly one PEM certificate, got \(certificates.count)")
        }
        guard !certificate.isCA else {
            throw AdminError(
                .badCertificate, "\(certificate.subject) is a CA certificate; register the participant's own (leaf) certificate")
        }
        if let named = certificate.klammerParticipantID, named != id {
            throw AdminError(
                .badCertificate, "the certificate names participant \(named) (SAN urn:klammer:participant:\(named)), not \(id)")
        }
        if let trustStore {
            do {
                try trustStore.verify(certificate, purpose: .tlsClient)
            } catch {
                throw AdminError(.untrustedCertificate, "the certificate would not be accepted for TLS: \(error)")
            }
        }
        return certificate
    }

    // MARK: Encoding

    static func json(_ status: Int, _ value: some Encodable) throws -> Response {
        var body = Array(try AdminJSON.encoder(pretty: true).encode(value))
        body.append(UInt8(ascii: "\n"))
        return Response(status: status, body: body)
    }

    /// The answer for `error`: its status and `{"error": {"code", "message"}}`.
    static func error(_ error: AdminError) -> Response {
        let status = error.status ?? 500
        return (try? json(status, error.body)) ?? Response(status: status, body: Array("{}\n".utf8))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do {
            return try AdminJSON.decoder().decode(type, from: Data(body))
        } catch {
            throw AdminError(.badRequest, "the request body is not the expected JSON (\(T.self)): \(error)")
        }
    }

    /// A registry or audit failure as the admin API answers it. Broker codes keep their name (SPEC.md §11.3);
    /// broker codes without an admin constant (`io`, `corrupt-registry`, …) and audit codes (`audit-<code>`) are
    /// answered 500.
    static func map(_ error: any Error) -> AdminError {
        if let error = error as? BrokerError {
            let code: AdminError.Code =
                switch error.code {
                case .unknownParticipant: .unknownParticipant
                case .unknownCertificate: .unknownCertificate
                case .participantExists: .participantExists
                case .certificateInUse: .certificateInUse
                case .invalidTransition: .invalidTransition
                case .invalidParticipantID: .invalidParticipantID
                case .invalidPolicy: .invalidPolicy
                case .limitExceeded: .limitExceeded
                default: AdminError.Code(error.code.name, status: 500)
                }
            return AdminError(code, error.message)
        }
        if let error = error as? AuditError {
            return AdminError(AdminError.Code("audit-\(error.code.name)", status: 500), error.message)
        }
        return AdminError(.internal, "\(error)")
    }
}

extension AdminRoute {
    /// The participant the call is about, for the audit log's `subject`.
    var subject: String {
        switch self {
        case .showParticipant(let id), .changeStatus(let id, _), .removeParticipant(let id), .addCertificate(let id),
            .removeCertificate(let id, _), .setPolicy(let id), .showQueue(let id), .peekQueue(let id, _),
            .replayDeadLetters(let id), .purgeQueue(let id), .traceMessage(let id):
            id
        case .listDeadLetters(let id?, _):
            id
        default:
            ""
        }
    }
}
