/// The phase of a Klammer connection (SPEC.md §4.5), for checking which frames are legal.
/// Per-request state (uploads, deliveries, credits) is tracked by the connection handler.
public enum ConnectionPhase: Hashable, Sendable {
    /// TLS is up; the broker waits for HELLO (the client for WELCOME).
    case awaitingHello
    /// WELCOME was sent/received; requests run.
    case open
    /// GOAWAY was sent or received; only open requests finish.
    case draining

    /// Which end of the connection sends a frame.
    public enum Role: Hashable, Sendable {
        /// The participant's client.
        case client
        /// The broker.
        case server
    }

    /// Whether `type` may be sent by `role` in this phase (direction rule plus the table in SPEC.md §4.5).
    /// A receiver that gets a frame for which this is false answers ERROR(0, UNEXPECTED_FRAME) and closes.
    /// In `draining`, frames starting new requests (SEND_BEGIN, FETCH, SUBSCRIBE, STATUS_REQUEST) are illegal;
    /// whether other request-scoped frames belong to an open request is for the handler to check.
    public func allows(_ type: FrameType, from role: Role) -> Bool {
        if type.isReserved { return false }
        switch (type.direction, role) {
        case (.clientToServer, .server), (.serverToClient, .client): return false
        default: break
        }
        switch self {
        case .awaitingHello:
            switch role {
            case .client: return type == .hello
            case .server: return type == .welcome || type == .error
            }
        case .open:
            return type != .hello && type != .welcome
        case .draining:
            switch type {
            case .hello, .welcome, .sendBegin, .fetch, .subscribe, .statusRequest, .directoryLookup: return false
            default: return true
            }
        }
    }

    /// The error to send when `allows` is false.
    public func unexpected(_ type: FrameType, from role: Role) -> ProtocolError {
        ProtocolError(.unexpectedFrame, "\(type) not allowed from the \(role) while \(self)")
    }
}
