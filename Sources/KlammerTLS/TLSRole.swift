/// Which side of the handshake a configuration is for.
public enum TLSRole: Sendable, Hashable {
    /// Accepts connections; requires and verifies a client certificate.
    case server
    /// Connects; presents a client certificate and verifies the server's.
    case client
}
