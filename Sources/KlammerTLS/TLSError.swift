/// An error from Klammer's TLS layer: a stable ``code`` to match on and a ``message`` for humans and logs.
///
/// OpenSSL's error queue (if any) is drained into ``openSSLErrors``; certificate verification failures carry
/// OpenSSL's `X509_verify_cert_error_string` in the message.
public struct TLSError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What went wrong, as a stable identifier.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The stable name, kebab-case like the broker, audit, server and admin-API codes (e.g. `handshake-timeout`);
        /// logs and the `klammer_tls_handshake_failures_total{reason}` metric carry it.
        public var description: String { name }

        /// The configuration is unusable (missing key, key/certificate mismatch, bad ALPN list, …).
        public static let invalidConfiguration = Code("invalid-configuration")
        /// Our own key or a peer key is below the BSI minimum (RSA < 3072, EC < 256).
        public static let keyTooSmall = Code("key-too-small")
        /// The TLS handshake failed (protocol error, no shared cipher/group/version, garbage input, …).
        public static let handshakeFailed = Code("handshake-failed")
        /// The peer offered a protocol version the policy refuses (e.g. TLS 1.2 when only 1.3 is allowed).
        public static let protocolVersionRefused = Code("protocol-version-refused")
        /// The peer sent no certificate although one is required.
        public static let peerCertificateMissing = Code("peer-certificate-missing")
        /// The peer's certificate chain did not verify (untrusted, expired, revoked, weak key, …).
        public static let certificateVerificationFailed = Code("certificate-verification-failed")
        /// The peer (or we) refused the connection with a TLS alert; the message names the alert.
        public static let alertReceived = Code("alert-received")
        /// No common ALPN protocol although ALPN is required.
        public static let noApplicationProtocol = Code("no-application-protocol")
        /// The handshake (including authorization) did not finish within the configured timeout.
        public static let handshakeTimeout = Code("handshake-timeout")
        /// The authorizer rejected the peer's identity.
        public static let unauthorized = Code("unauthorized")
        /// The peer sent more bytes than allowed before the handshake/authorization finished.
        public static let inboundBufferLimitExceeded = Code("inbound-buffer-limit-exceeded")
        /// Too many plaintext bytes are buffered locally (before the handshake, or while the channel is not writable).
        public static let outboundBufferLimitExceeded = Code("outbound-buffer-limit-exceeded")
        /// The connection closed (or was closed) before the handshake finished.
        public static let closedDuringHandshake = Code("closed-during-handshake")
        /// The peer closed the TCP connection without a TLS close_notify (possible truncation).
        public static let uncleanShutdown = Code("unclean-shutdown")
        /// The connection is already closed or failed.
        public static let connectionClosed = Code("connection-closed")
        /// An unexpected OpenSSL failure during read/write.
        public static let internalError = Code("internal-error")
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable explanation naming the reason (and, where useful, what to do about it).
    public let message: String
    /// Entries from OpenSSL's error queue, oldest first.
    public let openSSLErrors: [String]

    /// Creates an error.
    public init(_ code: Code, _ message: String, openSSLErrors: [String] = []) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    public var description: String {
        if openSSLErrors.isEmpty { return "TLSError.\(code): \(message)" }
        return "TLSError.\(code): \(message) [OpenSSL: \(openSSLErrors.joined(separator: "; "))]"
    }
}
