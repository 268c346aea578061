public import KlammerCrypto
import KlammerProtocol
public import NIOCore

/// Everything needed to build a ``TLSContext``: our certificate chain and key, whom we trust, and the policy knobs.
///
/// The cryptographic policy itself (cipher suites, groups, signature algorithms, security level, no compression,
/// no renegotiation, no resumption) is fixed by Klammer (BSI TR-02102-2, see SPEC.md §1) and not configurable here.
public struct TLSConfiguration: Sendable {
    /// Server or client.
    public var role: TLSRole
    /// Our certificate chain, leaf first, then any intermediates (the root is not sent).
    public var certificateChain: [Certificate]
    /// The private key of the leaf certificate. RSA keys must have ≥ 3072 bits, EC keys ≥ 256 bits.
    public var privateKey: PrivateKey
    /// Trust anchors and CRLs the peer's certificate must chain to / not be revoked by.
    public var trustStore: TrustStore
    /// The lowest protocol version accepted: `.tls13` (default) or `.tls12` (then only ECDHE + AES-GCM suites).
    public var minimumVersion: TLSVersion = .tls13
    /// ALPN protocols in order of preference (default `["klammer/1"]`). Room for e.g. `http/1.1` on the same port.
    public var applicationProtocols: [String] = [klammerALPN]
    /// If true (default), the handshake fails unless both sides agree on one of ``applicationProtocols``.
    public var requireApplicationProtocol: Bool = true
    /// Client only: the server name sent as SNI and, if set, checked against the server certificate's SANs.
    /// Identity is still the fingerprint; this is an additional check.
    public var serverHostname: String? = nil
    /// How long the handshake *and* the authorizer's decision may take together (default 10 s).
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// The most ciphertext bytes a peer may send before the handshake completes (default 256 KiB).
    /// A peer flooding bytes before the handshake ends is cut off at this bound.
    public var maxHandshakeInboundBytes: Int = 256 * 1024
    /// The most decrypted bytes held while the authorizer decides (default 1 MiB); more fails the connection.
    public var maxUnauthorizedInboundBytes: Int = 1024 * 1024
    /// The most plaintext bytes the handler holds for local writes (before the handshake/authorization ends or
    /// while the channel is not writable; default 4 MiB). A write arriving when this much is held fails with
    /// ``TLSError/Code/outboundBufferLimitExceeded``.
    public var maxBufferedOutboundBytes: Int = 4 * 1024 * 1024

    /// Creates a configuration; prefer ``server(certificateChain:privateKey:trustStore:)`` / ``client(certificateChain:privateKey:trustStore:)``.
    public init(role: TLSRole, certificateChain: [Certificate], privateKey: PrivateKey, trustStore: TrustStore) {
        self.role = role
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustStore = trustStore
    }

    /// A server configuration: requires a client certificate chaining to `trustStore` and not revoked by its CRLs.
    public static func server(certificateChain: [Certificate], privateKey: PrivateKey, trustStore: TrustStore) -> TLSConfiguration {
        TLSConfiguration(role: .server, certificateChain: certificateChain, privateKey: privateKey, trustStore: trustStore)
    }

    /// A client configuration: presents `certificateChain` and verifies the server against `trustStore`.
    public static func client(certificateChain: [Certificate], privateKey: PrivateKey, trustStore: TrustStore) -> TLSConfiguration {
        TLSConfiguration(role: .client, certificateChain: certificateChain, privateKey: privateKey, trustStore: trustStore)
    }
}
