/// A TLS protocol version Klammer can be configured to accept.
public enum TLSVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// TLS 1.2 (RFC 5246), only with ECDHE and AES-GCM (BSI TR-02102-2).
    case tls12
    /// TLS 1.3 (RFC 8446), the default.
    case tls13

    public var description: String {
        switch self {
        case .tls12: "TLSv1.2"
        case .tls13: "TLSv1.3"
        }
    }
}
