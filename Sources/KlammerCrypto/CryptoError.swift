internal import COpenSSL

/// An error from KlammerCrypto: what went wrong, what to do about it, and what OpenSSL said.
///
/// Modelled on swift-certificates' `CertificateError`: a stable, comparable ``Code`` for programs and a
/// human-readable ``message`` for operators. `openSSLErrors` holds the strings drained from OpenSSL's
/// per-thread error queue at the time the error was created (never raw pointers), oldest first.
public struct CryptoError: Error, CustomStringConvertible, Sendable {
    /// A stable classification of a ``CryptoError``. Compare with `==`, e.g. `error.code == .certificateRevoked`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The stable name, kebab-case like the broker, audit, server and admin-API codes (e.g. `certificate-revoked`).
        public var description: String { name }

        /// Input is not valid PEM/DER or not the expected object (certificate, key, CRL, CMS).
        public static let invalidEncoding = Code("invalid-encoding")
        /// The key type, curve or digest is not one Klammer allows.
        public static let unsupportedAlgorithm = Code("unsupported-algorithm")
        /// The key is below the BSI TR-02102-1 minimum (RSA < 3072 bits, EC < 256 bits).
        public static let weakKey = Code("weak-key")
        /// The certificate's notAfter is before the verification time.
        public static let certificateExpired = Code("certificate-expired")
        /// The certificate's notBefore is after the verification time.
        public static let certificateNotYetValid = Code("certificate-not-yet-valid")
        /// The certificate's serial number is listed on its issuer's CRL.
        public static let certificateRevoked = Code("certificate-revoked")
        /// No chain to a trust anchor could be built (unknown or missing issuer, self-signed but not trusted).
        public static let untrustedIssuer = Code("untrusted-issuer")
        /// A signature (certificate, CRL, CMS or raw) does not verify.
        public static let invalidSignature = Code("invalid-signature")
        /// The CRL's nextUpdate is before the verification time.
        public static let crlExpired = Code("crl-expired")
        /// The CRL's lastUpdate is after the verification time.
        public static let crlNotYetValid = Code("crl-not-yet-valid")
        /// CRL checking is required but no CRL from the certificate's issuer is loaded.
        public static let crlNotFound = Code("crl-not-found")
        /// The certificate may not be used for this purpose (key usage, extended key usage, CA flags).
        public static let invalidPurpose = Code("invalid-purpose")
        /// The chain is structurally invalid (path length, a non-CA certificate as issuer, bad extensions).
        public static let invalidChain = Code("invalid-chain")
        /// A private key does not belong to the given certificate/public key.
        public static let keyMismatch = Code("key-mismatch")
        /// The passphrase for an encrypted key is missing or wrong.
        public static let wrongPassphrase = Code("wrong-passphrase")
        /// An input exceeds the size limit Klammer accepts.
        public static let inputTooLarge = Code("input-too-large")
        /// A file does not exist or cannot be read.
        public static let fileNotFound = Code("file-not-found")
        /// A parameter passed by the caller is invalid (e.g. a malformed SAN, notAfter before notBefore).
        public static let invalidParameter = Code("invalid-parameter")
        /// An encrypted CMS structure has no RecipientInfo for the given certificate: it was not encrypted for it.
        public static let notARecipient = Code("not-a-recipient")
        /// Decryption failed although the certificate is a recipient: the ciphertext or its authentication tag was
        /// altered, or the key does not open the wrapped content key.
        public static let decryptionFailed = Code("decryption-failed")
        /// OpenSSL failed in a way not covered by a more specific code; see ``CryptoError/openSSLErrors``.
        public static let openSSLFailure = Code("openssl-failure")
    }

    /// The classification of this error.
    public let code: Code
    /// What is wrong and what to do about it.
    public let message: String
    /// Strings from OpenSSL's error queue (`ERR_error_string_n` plus any error data), oldest first.
    public let openSSLErrors: [String]

    /// Creates an error without touching OpenSSL's error queue.
    public init(_ code: Code, _ message: String, openSSLErrors: [String] = []) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
    }

    public var description: String {
        if openSSLErrors.isEmpty {
            return "CryptoError.\(code): \(message)"
        }
        return "CryptoError.\(code): \(message) [OpenSSL: \(openSSLErrors.joined(separator: "; "))]"
    }
}

package extension CryptoError {
    /// Builds an error and drains OpenSSL's (per-thread) error queue into ``openSSLErrors``.
    ///
    /// Call this right after a failing OpenSSL call on the same thread; the queue is left empty, so stale
    /// errors never leak into the next, unrelated failure.
    static func openSSL(_ code: Code, _ message: String) -> CryptoError {
        CryptoError(code, message, openSSLErrors: drainOpenSSLErrors())
    }

    /// Empties OpenSSL's error queue for this thread and returns its entries, oldest first.
    static func drainOpenSSLErrors() -> [String] {
        var result: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            var data: UnsafePointer<CChar>? = nil
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let data, (flags & ERR_TXT_STRING) != 0, data.pointee != 0 {
                text += " (\(String(cString: data)))"
            }
            result.append(text)
            if result.count >= 32 {  // a runaway queue must not make errors unbounded
                ERR_clear_error()
                break
            }
        }
        return result
    }
}
