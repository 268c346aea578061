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
    private let decide: @Sendable (PeerIdentity) async -> AuthorizationDecision

    /// Wraps an async decision function.
    public init(_ decide: @escaping @Sendable (PeerIdentity) async -> AuthorizationDecision) {
        self.decide = decide
    }

    /// Asks for a decision.
    public func authorize(_ peer: PeerIdentity) async -> AuthorizationDecision {
        await decide(peer)
    }

    /// Accepts every peer whose certificate verified (development only).
    public static let acceptAll = PeerAuthorizer { _ in .accept }
}
