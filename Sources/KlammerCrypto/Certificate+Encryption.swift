internal import COpenSSL
public import Foundation

extension Certificate {
    /// True if this certificate may receive encrypted payloads (SPEC.md §5.11): its key meets the Klammer minimum, its
    /// keyUsage (if present) allows key agreement (EC) or key encipherment (RSA), it is not a CA certificate, and
    /// `date` lies within its validity period.
    public func isEncryptionCertificate(at date: Date = Date()) -> Bool {
        guard !isCA, publicKey.meetsKlammerMinimum, notBefore <= date, date <= notAfter else { return false }
        // X509_get_key_usage answers UINT32_MAX when the extension is absent (every usage allowed).
        let usage = X509_get_key_usage(pointer)
        if case .rsa = publicKey.kind {
            return usage & UInt32(KU_KEY_ENCIPHERMENT) != 0
        }
        return usage & UInt32(KU_KEY_AGREEMENT) != 0
    }
}
