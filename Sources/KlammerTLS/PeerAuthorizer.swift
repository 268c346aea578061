/// The authorizer's answer for a peer.
public enum AuthorizationDecision: Sendable, Hashable {
    /// Let the peer in: buffered and further application bytes flow.
    case accept
    /// Refuse the peer: the connection is closed, the reason is logged and surfaced as ``TLSError/Code/unauthorized``.
    case reject(reason: String)
}

/// An async hook called once per connection after a successful handshake, with the peer's verified identity,
/// before any application byte is passed on. The participant registry plugs in here.
public struct PeerAuthorizer: Sendable {
    private enum Kind: Sendable {
        case async(@Sendable (PeerIdentity) async -> AuthorizationDecision)
        case synchronous(@Sendable (PeerIdentity) -> AuthorizationDecision)
    }
    private let kind: Kind

    /// Wraps an async decision function (e.g. a registry lookup that may do I/O). Runs in a Swift task; the
    /// answer hops back to the channel's event loop.
    public init(_ decide: @escaping @Sendable (PeerIdentity) async -> AuthorizationDecision) {
        self.kind = .async(decide)
    }

    /// Wraps a synchronous, non-blocking decision (e.g. a lookup in an in-memory registry snapshot). It runs
    /// directly on the channel's event loop, saving the task hop; it must not block.
    public init(synchronous decide: @escaping @Sendable (PeerIdentity) -> AuthorizationDecision) {
        self.kind = .synchronous(decide)
    }

    /// Asks for a decision.
    public func authorize(_ peer: PeerIdentity) async -> AuthorizationDecision {
        switch kind {
        case .async(let decide): await decide(peer)
        case .synchronous(let decide): decide(peer)
        }
    }

    /// The decision if it can be made without suspending (synchronous authorizers), else nil.
    func immediateDecision(for peer: PeerIdentity) -> AuthorizationDecision? {
        if case .synchronous(let decide) = kind { return decide(peer) }
        return nil
    }

    /// Accepts every peer whose certificate verified (development only).
    public static let acceptAll = PeerAuthorizer(synchronous: { _ in .accept })
}
