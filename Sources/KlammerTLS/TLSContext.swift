internal import COpenSSL
internal import COpenSSLShims
import KlammerCrypto

/// A validated, immutable OpenSSL `SSL_CTX` built once from a ``TLSConfiguration`` and shared by all connections.
///
/// Sendable: after `init` the `SSL_CTX` is never mutated again (OpenSSL documents concurrent `SSL_new` on a
/// fully configured context as thread-safe; the session cache, the only mutable part, is switched off), and the
/// Swift properties are immutable. A reload builds a new context and swaps it for new connections.
public final class TLSContext: @unchecked Sendable {
    /// The configuration this context was built from.
    public let configuration: TLSConfiguration
    let pointer: OpaquePointer  // SSL_CTX*, owned
    /// Our ALPN list in wire format (length-prefixed).
    let alpnWire: [UInt8]

    /// TLS 1.3 suites allowed by BSI TR-02102-2 that OpenSSL offers (AES-GCM; no ChaCha20).
    static let tls13CipherSuites = "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256"
    /// TLS 1.2 suites: ECDHE key exchange with AES-GCM only.
    static let tls12CipherList =
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
    /// Key exchange groups. OpenSSL 3.0 offers the brainpool curves for TLS 1.2 only.
    static let groups = "P-256:P-384:brainpoolP256r1:brainpoolP384r1"
    /// Signature algorithms: ECDSA with SHA-2 and RSA-PSS (no PKCS#1 v1.5, no SHA-1).
    static let signatureAlgorithms =
        "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:rsa_pss_pss_sha256:rsa_pss_pss_sha384:rsa_pss_pss_sha512"

    /// Builds and validates the context.
    /// - Throws: ``TLSError`` with ``TLSError/Code/invalidConfiguration`` or ``TLSError/Code/keyTooSmall``.
    public init(configuration: TLSConfiguration) throws {
        let config = configuration
        guard let leaf = config.certificateChain.first else {
            throw TLSError(.invalidConfiguration, "the certificate chain is empty; configure at least our leaf certificate")
        }
        let ownKey = config.privateKey.publicKey
        guard ownKey.meetsKlammerMinimum else {
            throw TLSError(
                .keyTooSmall,
                "our own key (\(ownKey.kind), \(ownKey.bits) bits) is below the BSI TR-02102-2 minimum (RSA ≥ 3072, EC ≥ 256 bits); issue a new certificate with a stronger key"
            )
        }
        guard config.privateKey.matches(leaf.publicKey) else {
            throw TLSError(.invalidConfiguration, "the private key does not belong to the leaf certificate \(leaf.subject)")
        }
        guard !config.applicationProtocols.isEmpty || !config.requireApplicationProtocol else {
            throw TLSError(.invalidConfiguration, "ALPN is required but the protocol list is empty")
        }
        var wire: [UInt8] = []
        for proto in config.applicationProtocols {
            let bytes = Array(proto.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError(.invalidConfiguration, "ALPN protocol \"\(proto)\" must be 1–255 bytes")
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        self.alpnWire = wire

        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_method()) else {
            throw TLSContext.openSSLError(.internalError, "cannot allocate an SSL_CTX")
        }
        self.pointer = ctx
        self.configuration = config
        // From here on, deinit frees `ctx` if a check below throws.

        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw TLSContext.openSSLError(.invalidConfiguration, what) }
        }
        // Security level 3: ≥ 128-bit security for our and the peer's keys (RSA ≥ 3072, EC ≥ 256), no SHA-1.
        SSL_CTX_set_security_level(ctx, 3)
        let minVersion = config.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        try check(klammer_SSL_CTX_set_min_proto_version(ctx, minVersion) == 1, "cannot set the minimum TLS version")
        try check(klammer_SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1, "cannot set the maximum TLS version")
        _ = klammer_SSL_CTX_set_options(
            ctx,
            klammer_SSL_OP_NO_COMPRESSION() | klammer_SSL_OP_NO_RENEGOTIATION() | klammer_SSL_OP_NO_TICKET()
                | klammer_SSL_OP_CIPHER_SERVER_PREFERENCE() | klammer_SSL_OP_NO_TLSv1_2_AND_LOWER())
        // No resumption: no session cache, no tickets (TLS 1.2 and 1.3), so every connection re-verifies the chain and CRLs.
        _ = klammer_SSL_CTX_set_session_cache_mode(ctx, klammer_SSL_SESS_CACHE_OFF())
        try check(SSL_CTX_set_num_tickets(ctx, 0) == 1, "cannot disable TLS 1.3 session tickets")
        try check(SSL_CTX_set_ciphersuites(ctx, TLSContext.tls13CipherSuites) == 1, "cannot set the TLS 1.3 cipher suites")
        try check(SSL_CTX_set_cipher_list(ctx, TLSContext.tls12CipherList) == 1, "cannot set the TLS 1.2 cipher list")
        try check(klammer_SSL_CTX_set1_groups_list(ctx, TLSContext.groups) == 1, "cannot set the key exchange groups")
        try check(klammer_SSL_CTX_set1_sigalgs_list(ctx, TLSContext.signatureAlgorithms) == 1, "cannot set the signature algorithms")

        // Our identity.
        guard SSL_CTX_use_certificate(ctx, leaf.pointer) == 1 else {
            throw TLSContext.openSSLError(
                .keyTooSmall, "OpenSSL refused our certificate \(leaf.subject) (security level 3: key or signature too weak?)")
        }
        for intermediate in config.certificateChain.dropFirst() {
            try check(
                klammer_SSL_CTX_add1_chain_cert(ctx, intermediate.pointer) == 1,
                "cannot add intermediate \(intermediate.subject) to our chain")
        }
        try check(SSL_CTX_use_PrivateKey(ctx, config.privateKey.pointer) == 1, "OpenSSL refused our private key")
        try check(SSL_CTX_check_private_key(ctx) == 1, "the private key does not match the certificate")

        // Whom we trust: anchors + CRLs with the crypto module's CRL flags.
        let store: OpaquePointer
        do { store = try config.trustStore.makeX509Store() } catch {
            throw TLSError(.invalidConfiguration, "cannot build the trust store: \(error)")
        }
        SSL_CTX_set_cert_store(ctx, store)  // takes ownership
        SSL_CTX_set_verify_depth(ctx, 5)
        switch config.role {
        case .server:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
            klammer_SSL_CTX_set_alpn_select_cb(ctx, TLSContext.alpnSelect, Unmanaged.passUnretained(self).toOpaque())
            // A peer that offers no ALPN at all is refused in the handshake with the same alert (SPEC.md §1.9).
            if config.requireApplicationProtocol { klammer_SSL_CTX_require_alpn_extension(ctx) }
        case .client:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            if !wire.isEmpty {
                try check(SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0, "cannot set the ALPN protocols")
            }
        }
        ERR_clear_error()
    }

    deinit { SSL_CTX_free(pointer) }

    /// Server ALPN selection: our preference order, fatal `no_application_protocol` alert if required and none matches.
    private static let alpnSelect: klammer_alpn_select_cb = { _, out, outlen, input, inlen, arg in
        guard let arg, let input, let out, let outlen else { return SSL_TLSEXT_ERR_ALERT_FATAL }
        let context = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
        let offered = UnsafeBufferPointer(start: input, count: Int(inlen))
        for proto in context.configuration.applicationProtocols {
            let wanted = Array(proto.utf8)
            var index = 0
            while index < offered.count {
                let length = Int(offered[index])
                let start = index + 1
                guard start + length <= offered.count else { break }
                if length == wanted.count && offered[start..<start + length].elementsEqual(wanted) {
                    out.pointee = input + start
                    outlen.pointee = UInt8(length)
                    return SSL_TLSEXT_ERR_OK
                }
                index = start + length
            }
        }
        return context.configuration.requireApplicationProtocol ? SSL_TLSEXT_ERR_ALERT_FATAL : SSL_TLSEXT_ERR_NOACK
    }

    static func openSSLError(_ code: TLSError.Code, _ message: String) -> TLSError {
        TLSError(code, message, openSSLErrors: CryptoError.drainOpenSSLErrors())
    }
}
