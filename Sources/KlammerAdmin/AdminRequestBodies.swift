/// `POST /v1/participants`.
public struct AddParticipantRequest: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// The participant's certificate, PEM.
    public var certificatePem: String
    /// Routing patterns; absent means `["*"]`.
    public var policy: [String]?

    public init(id: String, name: String, certificatePem: String, policy: [String]? = nil) {
        self.id = id
        self.name = name
        self.certificatePem = certificatePem
        self.policy = policy
    }
}

/// `POST /v1/participants/{id}/certificates`.
public struct AddCertificateRequest: Sendable, Equatable, Codable {
    public var certificatePem: String

    public init(certificatePem: String) { self.certificatePem = certificatePem }
}

/// `PUT /v1/participants/{id}/policy`.
public struct SetPolicyRequest: Sendable, Equatable, Codable {
    public var allow: [String]

    public init(allow: [String]) { self.allow = allow }
}

/// `DELETE /v1/participants/{id}`: the answer.
public struct RemovedParticipantResponse: Sendable, Equatable, Codable {
    public var removed: String

    public init(removed: String) { self.removed = removed }
}

/// `POST /v1/queues/{id}/dead-letters/replay` and `POST /v1/queues/{id}/purge`: which messages (32-hex-digit
/// message ids); absent means all of them. Purge also needs `confirm: true`, so that a bare POST deletes nothing.
public struct QueueSelectionRequest: Sendable, Equatable, Codable {
    public var messageIds: [String]?
    public var confirm: Bool?

    public init(messageIds: [String]? = nil, confirm: Bool? = nil) {
        self.messageIds = messageIds
        self.confirm = confirm
    }
}
