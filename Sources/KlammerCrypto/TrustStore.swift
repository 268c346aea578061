internal import COpenSSL
internal import COpenSSLShims
public import Foundation

/// Trust anchors plus CRLs: verifies certificate chains the way Klammer's TLS layer does.
///
/// Revocation policy:
/// - `requireCRL: nil` (default): if any CRLs are given, every certificate in the chain (leaf, intermediates,
///   and the anchor itself) must be covered by a valid CRL from its issuer (fail closed); without CRLs there is
///   no revocation check.
/// - `requireCRL: true`: like the default, and verification fails with ``CryptoError/Code/crlNotFound`` even
///   when no CRLs are given at all (use for production configurations).
/// - `requireCRL: false`: loaded CRLs are checked, but a certificate whose issuer has no loaded CRL passes.
///   A present-but-expired CRL always fails.
///
/// Keys and digests in the chain must offer at least 128-bit security (OpenSSL auth level 3: RSA ≥ 3072,
/// EC ≥ 256, no SHA-1), matching ``PublicKey/meetsKlammerMinimum``.
public struct TrustStore: Sendable {
    /// The trusted root (or pinned intermediate) certificates.
    public let anchors: [Certificate]
    /// The CRLs checked during verification.
    public let crls: [CertificateRevocationList]
    /// Whether CRL checking is enabled (CRL_CHECK | CRL_CHECK_ALL).
    public let checksRevocation: Bool
    /// Whether a certificate without a CRL from its issuer fails verification.
    public let requiresCRL: Bool
    private let store: StoreBox

    /// - Parameters:
    ///   - anchors: trusted CA certificates.
    ///   - crls: CRLs of the anchors and of any intermediates.
    ///   - requireCRL: see the type documentation; `nil` means "required for the whole chain if CRLs are given".
    public init(anchors: [Certificate], crls: [CertificateRevocationList] = [], requireCRL: Bool? = nil) {
        self.anchors = anchors
        self.crls = crls
        self.requiresCRL = requireCRL ?? !crls.isEmpty
        self.checksRevocation = requiresCRL || !crls.isEmpty
        // X509_STORE_new/add only fail on memory exhaustion; a TrustStore that silently trusted less would be worse.
        guard
            let pointer = try? TrustStore.buildStore(
                anchors: anchors, crls: crls, checksRevocation: checksRevocation, requiresCRL: requiresCRL)
        else {
            fatalError("OpenSSL could not build an X509_STORE: \(CryptoError.drainOpenSSLErrors())")
        }
        self.store = StoreBox(pointer)
    }

    /// Loads anchors from a PEM bundle and, optionally, CRLs from a PEM file.
    public static func load(anchorsFile: String, crlFile: String? = nil, requireCRL: Bool? = nil) throws -> TrustStore {
        let anchors = try Certificate.loadAll(fromPEMFile: anchorsFile)
        let crls = try crlFile.map { try CertificateRevocationList.loadAll(fromPEMFile: $0) } ?? []
        return TrustStore(anchors: anchors, crls: crls, requireCRL: requireCRL)
    }

    /// Verifies that `leaf` chains to an anchor (using `intermediates` as untrusted helpers), is within its
    /// validity period at `time`, is not revoked, and fits `purpose`.
    ///
    /// - Returns: the verified chain, leaf first, anchor last.
    /// - Throws: ``CryptoError`` with a specific code (``CryptoError/Code/certificateExpired``,
    ///   ``CryptoError/Code/certificateRevoked``, ``CryptoError/Code/untrustedIssuer``, …) whose message names
    ///   the failing certificate and OpenSSL's `X509_verify_cert_error_string`.
    @discardableResult
    public func verify(_ leaf: Certificate, intermediates: [Certificate] = [], at time: Date = .now, purpose: VerifyPurpose = .any) throws
        -> [Certificate]
    {
        try verify(leaf, intermediates: intermediates, at: time, purpose: purpose, store: store.pointer)
    }

    /// Verifies a signature's certificate for a signature that existed at `validAt` (e.g. the broker's signed
    /// acceptance time of a message, SPEC.md §5.10): the chain and its revocation status are checked now (`now`, with
    /// the current CRLs), the validity period of every certificate in the chain at `validAt`. A certificate that
    /// expired after `validAt` therefore passes; one revoked at any time does not (CRL entries are not compared with
    /// `validAt`: Klammer CRLs carry no reason codes, so a revocation may mean the key was compromised before).
    ///
    /// - Throws: like ``verify(_:intermediates:at:purpose:)``; ``CryptoError/Code/certificateExpired`` or
    ///   ``CryptoError/Code/certificateNotYetValid`` if a certificate of the chain was not valid at `validAt`.
    @discardableResult
    public func verify(
        _ leaf: Certificate, intermediates: [Certificate] = [], validAt: Date, revocationAt now: Date = .now,
        purpose: VerifyPurpose = .any
    ) throws -> [Certificate] {
        let chain = try verify(leaf, intermediates: intermediates, at: now, purpose: purpose, store: store.pointer, ignoringValidity: true)
        for certificate in chain {
            let which = certificate.fingerprint == leaf.fingerprint ? "certificate" : "issuer certificate"
            if validAt > certificate.notAfter {
                throw CryptoError(
                    .certificateExpired,
                    "\(which) \(certificate.subject) was not valid at \(validAt.iso8601): it expired on \(certificate.notAfter.iso8601)")
            }
            if validAt < certificate.notBefore {
                throw CryptoError(
                    .certificateNotYetValid,
                    "\(which) \(certificate.subject) was not valid at \(validAt.iso8601): it is valid only from \(certificate.notBefore.iso8601)"
                )
            }
        }
        return chain
    }

    /// Verification against an explicit X509_STORE (also used by tests to exercise ``makeX509Store()``).
    /// `ignoringValidity`: expired / not yet valid certificates do not fail (the caller checks the periods itself).
    func verify(
        _ leaf: Certificate, intermediates: [Certificate], at time: Date, purpose: VerifyPurpose, store storePointer: OpaquePointer,
        ignoringValidity: Bool = false
    ) throws -> [Certificate] {
        if requiresCRL && crls.isEmpty {
            throw CryptoError(
                .crlNotFound,
                "revocation checking is required but no CRL is loaded; configure the CA's CRL file (e.g. from `klammerctl pki crl`)")
        }
        guard let context = X509_STORE_CTX_new() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a verification context; the process may be out of memory")
        }
        defer { X509_STORE_CTX_free(context) }
        guard let untrusted = klammer_sk_X509_new_null() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a certificate stack")
        }
        defer { klammer_sk_X509_free(untrusted) }  // shallow: the certificates belong to `intermediates`
        for certificate in intermediates {
            guard klammer_sk_X509_push(untrusted, certificate.pointer) > 0 else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot collect intermediate certificates")
            }
        }
        ERR_clear_error()
        guard X509_STORE_CTX_init(context, storePointer, leaf.pointer, untrusted) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot initialise certificate verification")
        }
        X509_STORE_CTX_set_time(context, 0, time_t(time.timeIntervalSince1970.rounded(.down)))
        if ignoringValidity {
            // Replaces the store's callback for this context only, so it must also carry the missing-CRL tolerance.
            X509_STORE_CTX_set_verify_cb(context, checksRevocation && !requiresCRL ? tolerateValidityAndMissingCRL : tolerateValidity)
        }
        switch purpose {
        case .any: break
        case .tlsClient: X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_CLIENT)
        case .tlsServer: X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER)
        }

        // All objects touched by verification stay alive through `withExtendedLifetime` (leaf, intermediates, store).
        let result = withExtendedLifetime((leaf, intermediates, store)) { X509_verify_cert(context) }
        guard result == 1 else {
            throw TrustStore.verificationError(context: context, leaf: leaf, time: time)
        }
        var chain: [Certificate] = []
        if let verified = X509_STORE_CTX_get0_chain(context) {
            for i in 0..<klammer_sk_X509_num(verified) {
                guard let x509 = klammer_sk_X509_value(verified, i) else { continue }
                X509_up_ref(x509)  // Certificate takes its own reference
                chain.append(try Certificate(taking: x509))
            }
        }
        return chain
    }

    /// A new `X509_STORE*` holding the anchors and CRLs with the same flags, auth level and CRL policy as
    /// ``verify(_:intermediates:at:purpose:)``, for `SSL_CTX_set1_verify_cert_store`/`SSL_CTX_set_cert_store`.
    /// The caller owns the returned store and frees it with `X509_STORE_free` (or hands ownership to OpenSSL).
    ///
    /// Note: with `requireCRL: false` the tolerance for missing CRLs is an X509_STORE verify callback;
    /// an `SSL_CTX_set_verify` callback replaces it, so a TLS callback must handle `X509_V_ERR_UNABLE_TO_GET_CRL` itself.
    package func makeX509Store() throws -> OpaquePointer {
        try TrustStore.buildStore(anchors: anchors, crls: crls, checksRevocation: checksRevocation, requiresCRL: requiresCRL)
    }

    /// Frees a store from ``makeX509Store()`` (for callers that do not import OpenSSL, e.g. tests).
    static func free(_ x509Store: OpaquePointer) { X509_STORE_free(x509Store) }

    private static func buildStore(anchors: [Certificate], crls: [CertificateRevocationList], checksRevocation: Bool, requiresCRL: Bool)
        throws -> OpaquePointer
    {
        guard let store = X509_STORE_new() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate an X509_STORE; the process may be out of memory")
        }
        var handedOver = false
        defer { if !handedOver { X509_STORE_free(store) } }
        for anchor in anchors {
            guard X509_STORE_add_cert(store, anchor.pointer) == 1 else {  // takes its own reference
                throw CryptoError.openSSL(.openSSLFailure, "cannot add trust anchor \(anchor.subject)")
            }
        }
        for crl in crls {
            guard X509_STORE_add_crl(store, crl.pointer) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot add the CRL of \(crl.issuer)")
            }
        }
        if checksRevocation {
            X509_STORE_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
            if !requiresCRL {
                X509_STORE_set_verify_cb(store, tolerateMissingCRL)
            }
        }
        if let parameters = X509_STORE_get0_param(store) {
            X509_VERIFY_PARAM_set_auth_level(parameters, 3)  // 128-bit security: RSA ≥ 3072, EC ≥ 256, no SHA-1
        }
        handedOver = true
        return store
    }
}

/// Verify callback for `requireCRL: false`: a missing CRL is not an error, everything else is.
private let tolerateMissingCRL: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, context in
    if ok == 0, let context, X509_STORE_CTX_get_error(context) == X509_V_ERR_UNABLE_TO_GET_CRL {
        return 1
    }
    return ok
}

/// Verify callback for ``TrustStore/verify(_:intermediates:validAt:revocationAt:purpose:)``: validity periods are
/// checked by the caller at another time, everything else is an error.
private let tolerateValidity: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, context in
    if ok == 0, let context {
        let error = X509_STORE_CTX_get_error(context)
        if error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID { return 1 }
    }
    return ok
}

/// ``tolerateValidity`` plus ``tolerateMissingCRL`` (for `requireCRL: false`).
private let tolerateValidityAndMissingCRL: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, context in
    if ok == 0, let context {
        let error = X509_STORE_CTX_get_error(context)
        if error == X509_V_ERR_CERT_HAS_EXPIRED || error == X509_V_ERR_CERT_NOT_YET_VALID
            || error == X509_V_ERR_UNABLE_TO_GET_CRL
        {
            return 1
        }
    }
    return ok
}

/// Owns the X509_STORE used by ``TrustStore/verify(_:intermediates:at:purpose:)``.
///
/// `@unchecked Sendable`: the store is fully populated before it is shared and never modified afterwards;
/// OpenSSL's X509_STORE locks its internal object cache, so concurrent X509_verify_cert calls are safe.
private final class StoreBox: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_STORE_free(pointer) }
}
