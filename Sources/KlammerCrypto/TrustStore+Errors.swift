internal import COpenSSL
internal import COpenSSLShims
internal import Foundation

extension TrustStore {
    /// Maps the X509_STORE_CTX error to a CryptoError naming the failing certificate and what to do.
    static func verificationError(context: OpaquePointer, leaf: Certificate, time: Date) -> CryptoError {
        let error = X509_STORE_CTX_get_error(context)
        let depth = X509_STORE_CTX_get_error_depth(context)
        let reason = String(cString: X509_verify_cert_error_string(Int(error)))
        var subject = leaf.subject
        var notBefore = leaf.notBefore
        var notAfter = leaf.notAfter
        if let current = X509_STORE_CTX_get_current_cert(context) {
            subject = OpenSSLHelpers.nameString(X509_get_subject_name(current))
            notBefore = OpenSSLHelpers.date(X509_get0_notBefore(current)) ?? notBefore
            notAfter = OpenSSLHelpers.date(X509_get0_notAfter(current)) ?? notAfter
        }
        let which = depth == 0 ? "certificate" : "chain certificate at depth \(depth)"
        let at = "at \(time.iso8601)"
        let (code, advice): (CryptoError.Code, String)
        switch error {
        case X509_V_ERR_CERT_HAS_EXPIRED:
            (code, advice) = (
                .certificateExpired,
                "\(which) expired on \(notAfter.iso8601) (subject \(subject)); issue a new certificate with `klammerctl pki issue`"
            )
        case X509_V_ERR_CERT_NOT_YET_VALID:
            (code, advice) = (
                .certificateNotYetValid,
                "\(which) is valid only from \(notBefore.iso8601) (subject \(subject)), checked \(at); check the system clocks"
            )
        case X509_V_ERR_CERT_REVOKED:
            (code, advice) = (
                .certificateRevoked, "\(which) (subject \(subject)) is revoked by its issuer's CRL; the participant needs a new certificate"
            )
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_UNTRUSTED:
            (code, advice) = (
                .untrustedIssuer,
                "\(which) (subject \(subject)) does not chain to a trusted CA; add its issuing CA to the trust anchors or send the intermediate certificates"
            )
        case X509_V_ERR_UNABLE_TO_GET_CRL:
            (code, advice) = (.crlNotFound, "no CRL from the issuer of \(which) (subject \(subject)) is loaded; load that CA's current CRL")
        case X509_V_ERR_CRL_HAS_EXPIRED:
            (code, advice) = (
                .crlExpired, "the CRL covering \(which) (subject \(subject)) is past its nextUpdate \(at); fetch a fresh CRL from the CA"
            )
        case X509_V_ERR_CRL_NOT_YET_VALID:
            (code, advice) = (
                .crlNotYetValid, "the CRL covering \(which) (subject \(subject)) is not valid yet \(at); check the system clocks"
            )
        case X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_CRL_SIGNATURE_FAILURE,
            X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE,
            X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
            (code, advice) = (
                .invalidSignature,
                "a signature on \(which) (subject \(subject)) or its CRL does not verify; the certificate or CRL is forged or corrupt"
            )
        case X509_V_ERR_EE_KEY_TOO_SMALL, X509_V_ERR_CA_KEY_TOO_SMALL, X509_V_ERR_CA_MD_TOO_WEAK:
            (code, advice) = (
                .weakKey,
                "\(which) (subject \(subject)) uses a key or digest below BSI TR-02102-1 (RSA ≥ 3072, EC ≥ 256, SHA-256); reissue it"
            )
        case X509_V_ERR_INVALID_PURPOSE, X509_V_ERR_KEYUSAGE_NO_CERTSIGN, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN,
            X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE:
            (code, advice) = (
                .invalidPurpose,
                "\(which) (subject \(subject)) is not allowed for this use (key usage / extended key usage); issue one with the right usage"
            )
        default:
            (code, advice) = (.invalidChain, "\(which) (subject \(subject)) failed chain verification; inspect it with `openssl verify`")
        }
        return CryptoError(code, "\(advice) [X509 error \(error): \(reason)]", openSSLErrors: CryptoError.drainOpenSSLErrors())
    }
}
