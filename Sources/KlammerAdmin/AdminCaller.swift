import KlammerTLS

/// Who may be served on an admin connection, and how the audit log names them.
enum AdminCaller: Sendable {
    /// A Unix socket peer: served only if its kernel-reported uid is the daemon's.
    case unixPeer(PeerCredentials?, expectedUID: UInt32)
    /// A mutual-TLS peer; the TLS layer admitted it (its certificate chains to the CA and is listed) before any
    /// request byte arrives, and the handler learns its identity from the `authorized` event.
    case certificate(PeerIdentity?)

    /// The audit actor for a mutual-TLS admin certificate: fingerprint and subject (bounded: actors ≤ 512 bytes).
    static func actor(_ identity: PeerIdentity) -> String {
        "tls:\(identity.fingerprint.hex) \(String(identity.certificate.subject.prefix(300)))"
    }
}
