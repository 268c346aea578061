/// User inbound events fired by ``OpenSSLHandler``.
public enum TLSEvent: Sendable, Hashable {
    /// The handshake finished and the peer's certificate verified; authorization may still be pending.
    case handshakeCompleted(PeerIdentity)
    /// The authorizer accepted the peer; application bytes flow from now on.
    case authorized(PeerIdentity)
}
