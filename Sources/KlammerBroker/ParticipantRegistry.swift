import Foundation
public import KlammerCrypto
import Synchronization

/// The persistent registry of participants.
///
/// Every change is written as a whole new file (temporary name, fsync, rename, directory fsync) before it becomes
/// visible, so the registry on disk is always either the old or the new version, never a mix, and a change that
/// was confirmed survives a crash. Lookups are synchronous and cheap (the TLS authorizer and the send path call
/// them); observers are told about every change so that live connections of a suspended participant can be cut.
public final class ParticipantRegistry: Sendable {
    /// At most this many participants (a limit on every count).
    public static let maximumParticipants = 100_000
    /// At most this many certificates per participant (rollover needs two; a few more for overlap).
    public static let maximumCertificatesPerParticipant = 16
    /// At most this many bytes for a display name.
    public static let maximumNameBytes = 256

    /// A change, reported to observers after it is durable.
    public enum Change: Sendable, Equatable {
        case added(Participant)
        case updated(before: Participant, after: Participant)
        case removed(Participant)
    }

    private struct State {
        var revision: UInt64
        var byID: [String: Participant]
        var idByFingerprint: [String: String]
        var observers: [UInt64: @Sendable (Change) -> Void]
        var nextObserver: UInt64
    }

    private struct FileFormat: Codable {
        var format: String
        var version: Int
        var revision: UInt64
        var participants: [Participant]
    }

    static let formatName = "klammer-registry"
    static let formatVersion = 1

    /// The file the registry lives in.
    public let path: String
    private let state: Mutex<State>

    /// Opens the registry at `path`, creating an empty one if the file does not exist.
    /// A file that cannot be parsed is an error (never silently replaced): the operator must look at it.
    public init(path: String) throws {
        self.path = path
        var participants: [Participant] = []
        var revision: UInt64 = 0
        if FileManager.default.fileExists(atPath: path) {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw BrokerError(.io, "cannot read the participant registry \(path): \(error.localizedDescription).")
            }
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let file: FileFormat
            do {
                file = try decoder.decode(FileFormat.self, from: data)
            } catch {
                throw BrokerError(
                    .corruptRegistry,
                    "the participant registry \(path) cannot be parsed (\(error)); restore it from a backup. The broker does not start with a damaged registry."
                )
            }
            guard file.format == Self.formatName, file.version == Self.formatVersion else {
                throw BrokerError(
                    .corruptRegistry,
                    "\(path) is not a Klammer registry of version \(Self.formatVersion) (format '\(file.format)', version \(file.version))."
                )
            }
            participants = file.participants
            revision = file.revision
        }
        var byID: [String: Participant] = [:]
        var idByFingerprint: [String: String] = [:]
        for participant in participants {
            byID[participant.id] = participant
            for certificate in participant.certificates {
                idByFingerprint[certificate.fingerprint] = participant.id
            }
        }
        self.state = Mutex(State(revision: revision, byID: byID, idByFingerprint: idByFingerprint, observers: [:], nextObserver: 0))
    }

    // MARK: Lookups

    /// The participant that owns the certificate with this fingerprint, whatever its status.
    public func participant(forFingerprint fingerprint: CertificateFingerprint) -> Participant? {
        state.withLock { state in
            state.idByFingerprint[fingerprint.hex].flatMap { state.byID[$0] }
        }
    }

    /// The participant with this id, whatever its status.
    public func participant(id: String) -> Participant? {
        state.withLock { $0.byID[id] }
    }

    /// All participants, sorted by id.
    public func all() -> [Participant] {
        state.withLock { Array($0.byID.values) }.sorted { $0.id < $1.id }
    }

    /// The revision counter: increases by one with every durable change.
    public var revision: UInt64 { state.withLock { $0.revision } }

    // MARK: Observers

    /// Registers `handler` to be called (on the mutating thread, after the change is durable) for every change.
    /// Returns a token for `removeObserver`.
    @discardableResult
    public func addObserver(_ handler: @escaping @Sendable (Change) -> Void) -> UInt64 {
        state.withLock { state in
            let token = state.nextObserver
            state.nextObserver += 1
            state.observers[token] = handler
            return token
        }
    }

    public func removeObserver(_ token: UInt64) {
        _ = state.withLock { $0.observers.removeValue(forKey: token) }
    }

    // MARK: Changes

    /// Registers a new, active participant with one certificate and the default policy (everyone).
    @discardableResult
    public func add(id: String, name: String, certificate: Certificate, policy: RoutingPolicy = .allowAll) throws -> Participant {
        try ParticipantIDSyntax.validate(id)
        try Self.validateName(name)
        let now = Date()
        let participant = Participant(
            id: id, name: name, status: .active,
            certificates: [.init(fingerprint: certificate.fingerprint.hex, pem: certificate.pemString, addedAt: now)],
            policy: policy, createdAt: now, updatedAt: now)
        return try mutate { state in
            guard state.byID[id] == nil else {
                throw BrokerError(.participantExists, "participant \(id) is already registered; use 'participant show \(id)'.")
            }
            guard state.byID.count < Self.maximumParticipants else {
                throw BrokerError(.limitExceeded, "the registry holds at most \(Self.maximumParticipants) participants.")
            }
            try Self.checkFingerprintFree(certificate.fingerprint.hex, in: state)
            state.byID[id] = participant
            state.idByFingerprint[certificate.fingerprint.hex] = id
            return (.added(participant), participant)
        }
    }

    /// Sets the status. `revoked` is terminal: a revoked participant cannot be resumed (register a new one).
    @discardableResult
    public func setStatus(_ status: Participant.Status, of id: String) throws -> Participant {
        try update(id) { participant in
            if participant.status == .revoked && status != .revoked {
                throw BrokerError(
                    .invalidTransition,
                    "participant \(id) is revoked; revocation is final. Register the authority again under a new certificate.")
            }
            participant.status = status
        }
    }

    /// Adds a certificate (rollover: the old one keeps working until removed).
    @discardableResult
    public func addCertificate(_ certificate: Certificate, to id: String) throws -> Participant {
        let fingerprint = certificate.fingerprint.hex
        return try mutate { state in
            guard var participant = state.byID[id] else { throw Self.unknown(id) }
            if participant.certificates.contains(where: { $0.fingerprint == fingerprint }) {
                return (nil, participant)
            }
            try Self.checkFingerprintFree(fingerprint, in: state)
            guard participant.certificates.count < Self.maximumCertificatesPerParticipant else {
                throw BrokerError(
                    .limitExceeded,
                    "participant \(id) already has \(Self.maximumCertificatesPerParticipant) certificates; remove an old one first.")
            }
            let before = participant
            participant.certificates.append(.init(fingerprint: fingerprint, pem: certificate.pemString, addedAt: Date()))
            participant.updatedAt = Date()
            state.byID[id] = participant
            state.idByFingerprint[fingerprint] = id
            return (.updated(before: before, after: participant), participant)
        }
    }

    /// Removes a certificate by fingerprint; connections using it must be cut by the observer.
    @discardableResult
    public func removeCertificate(fingerprint: CertificateFingerprint, from id: String) throws -> Participant {
        try mutate { state in
            guard var participant = state.byID[id] else { throw Self.unknown(id) }
            guard participant.certificates.contains(where: { $0.fingerprint == fingerprint.hex }) else {
                throw BrokerError(.unknownCertificate, "participant \(id) has no certificate with fingerprint \(fingerprint.hex).")
            }
            let before = participant
            participant.certificates.removeAll { $0.fingerprint == fingerprint.hex }
            participant.updatedAt = Date()
            state.byID[id] = participant
            state.idByFingerprint[fingerprint.hex] = nil
            return (.updated(before: before, after: participant), participant)
        }
    }

    /// Replaces the routing policy.
    @discardableResult
    public func setPolicy(_ policy: RoutingPolicy, of id: String) throws -> Participant {
        try update(id) { $0.policy = policy }
    }

    /// Removes a participant entirely (its certificates stop working at once).
    public func remove(id: String) throws {
        try mutate { state -> (Change?, Void) in
            guard let participant = state.byID.removeValue(forKey: id) else { throw Self.unknown(id) }
            for certificate in participant.certificates {
                state.idByFingerprint[certificate.fingerprint] = nil
            }
            return (.removed(participant), ())
        }
    }

    // MARK: Internals

    private func update(_ id: String, _ body: (inout Participant) throws -> Void) throws -> Participant {
        try mutate { state in
            guard var participant = state.byID[id] else { throw Self.unknown(id) }
            let before = participant
            try body(&participant)
            if participant == before { return (nil, participant) }
            participant.updatedAt = Date()
            state.byID[id] = participant
            return (.updated(before: before, after: participant), participant)
        }
    }

    /// Applies `body` to a copy of the state, persists the copy, and only then publishes it; a failed write leaves
    /// memory and disk as they were.
    private func mutate<R>(_ body: (inout State) throws -> (Change?, R)) throws -> R {
        let (change, result, observers) = try state.withLock { state -> (Change?, R, [@Sendable (Change) -> Void]) in
            var copy = state
            let (change, result) = try body(&copy)
            guard change != nil else { return (nil, result, []) }
            copy.revision += 1
            try persist(copy)
            state = copy
            return (change, result, Array(state.observers.values))
        }
        if let change {
            for observer in observers { observer(change) }
        }
        return result
    }

    private func persist(_ state: State) throws {
        let file = FileFormat(
            format: Self.formatName, version: Self.formatVersion, revision: state.revision,
            participants: state.byID.values.sorted { $0.id < $1.id })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(file)
        try SecureFileWriter.write(Array(data), to: path, mode: 0o600, overwrite: true)
    }

    private static func checkFingerprintFree(_ fingerprint: String, in state: State) throws {
        if let owner = state.idByFingerprint[fingerprint] {
            throw BrokerError(
                .certificateInUse,
                "certificate \(fingerprint) is already registered to \(owner); a certificate identifies exactly one participant.")
        }
    }

    private static func validateName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= maximumNameBytes else {
            throw BrokerError(.limitExceeded, "a participant's name must be 1 to \(maximumNameBytes) bytes of UTF-8.")
        }
    }

    private static func unknown(_ id: String) -> BrokerError {
        BrokerError(.unknownParticipant, "no participant \(id) is registered; 'klammerctl participant list' shows who is.")
    }
}
