/// The connection life cycle of ``OpenSSLHandler`` as a value type: events in, actions out.
///
/// ```
/// idle ──activate──▶ handshaking ──handshake done──▶ authorizing ──accept──▶ active ──close──▶ closing ──▶ closed
///                         │                              │ reject/timeout        │ close_notify/error
///                         └──────── error/timeout ───────┴───────────────────────┴──────────────▶ closed
/// ```
/// Application bytes flow in both directions only in `active`. Before that, local writes are buffered
/// (bounded) and inbound plaintext is held (bounded) while `authorizing`.
struct TLSStateMachine {
    enum State: Equatable {
        case idle
        case handshaking
        case authorizing
        case active
        case closing
        case closed
    }

    enum Action: Equatable {
        case none
        case startHandshake
        case startAuthorization
        case becomeActive
        case fail(TLSError)
        case sendCloseNotifyAndClose
        case closeWithoutNotify
    }

    private(set) var state: State = .idle

    /// The channel became active (or the handler was added to an active channel).
    mutating func activate() -> Action {
        guard state == .idle else { return .none }
        state = .handshaking
        return .startHandshake
    }

    mutating func handshakeCompleted() -> Action {
        guard state == .handshaking else { return .none }
        state = .authorizing
        return .startAuthorization
    }

    mutating func authorizationDecided(_ decision: AuthorizationDecision) -> Action {
        guard state == .authorizing else { return .none }  // closed meanwhile: ignore a late answer
        switch decision {
        case .accept:
            state = .active
            return .becomeActive
        case .reject(let reason):
            state = .closed
            return .fail(TLSError(.unauthorized, "peer rejected by the authorizer: \(reason)"))
        }
    }

    /// A fatal error (handshake failure, timeout, buffer limit, decryption error).
    mutating func failed(_ error: TLSError) -> Action {
        switch state {
        case .closed: return .none
        default:
            state = .closed
            return .fail(error)
        }
    }

    /// The handshake timer fired.
    mutating func timedOut(after description: String) -> Action {
        switch state {
        case .idle, .handshaking, .authorizing:
            let phase = state == .authorizing ? "authorization" : "handshake"
            return failed(TLSError(.handshakeTimeout, "the \(phase) did not complete within \(description)"))
        default:
            return .none
        }
    }

    /// The local side asked to close.
    mutating func closeRequested() -> Action {
        switch state {
        case .active, .authorizing:
            state = .closing
            return .sendCloseNotifyAndClose
        case .idle, .handshaking:
            state = .closed
            return .closeWithoutNotify
        case .closing, .closed:
            return .none
        }
    }

    /// The peer sent close_notify.
    mutating func closeNotifyReceived() -> Action {
        switch state {
        case .active, .authorizing:
            state = .closing
            return .sendCloseNotifyAndClose
        default:
            return .none
        }
    }

    /// The TCP connection went away.
    mutating func channelInactive() -> Action {
        switch state {
        case .idle, .handshaking, .authorizing:
            let wasAuthorizing = state == .authorizing
            state = .closed
            return .fail(
                TLSError(
                    .closedDuringHandshake,
                    wasAuthorizing
                        ? "the connection closed before authorization finished"
                        : "the connection closed before the TLS handshake finished"))
        case .active, .closing:
            state = .closed
            return .none
        case .closed:
            return .none
        }
    }
}
