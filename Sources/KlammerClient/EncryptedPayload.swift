public import Foundation
public import KlammerCrypto
public import KlammerProtocol

/// End-to-end encrypted payloads (SPEC.md §3.8, §5.10): the sender encrypts the file for every certificate of every
/// recipient's directory entry and signs the envelope over the ciphertext; the broker only ever sees ciphertext.
public enum EncryptedPayload {
    /// The envelope content type of an encrypted payload (the payload is CMS AuthEnvelopedData).
    public static let contentType = "application/pkcs7-mime; smime-type=authEnveloped-data"

    /// True if the envelope marks its payload as end-to-end encrypted.
    public static func isEncrypted(_ envelope: Envelope) -> Bool { envelope.contentType == contentType }

    /// The recipient certificates of directory entries, each once; fails if a recipient has none (suspended, revoked,
    /// or no valid encryption certificate), because that recipient could never read the message.
    public static func recipientCertificates(_ entries: [DirectoryEntry]) throws(KlammerClientError) -> [Certificate] {
        var certificates: [Certificate] = []
        var seen = Set<CertificateFingerprint>()
        for entry in entries {
            guard !entry.certificates.isEmpty else {
                throw KlammerClientError(
                    .invalidArgument,
                    "recipient \(entry.participant) has no encryption certificate in the broker's directory (suspended, revoked or no valid certificate); it could not decrypt the message — send it unencrypted or ask the operator"
                )
            }
            for certificate in entry.certificates where seen.insert(certificate.fingerprint).inserted {
                certificates.append(certificate)
            }
        }
        return certificates
    }

    /// Encrypts the file at `plaintext` into `encrypted` for `recipients` (streaming; the output is created 0600).
    public static func encrypt(file plaintext: String, to encrypted: String, recipients: [Certificate]) throws(KlammerClientError) {
        do { try CMS.encryptFile(at: plaintext, to: encrypted, recipients: recipients) } catch {
            throw KlammerClientError(.fileError, "cannot encrypt \(plaintext): \(error)")
        }
    }
}

extension MessageDirectory {
    /// The ciphertext of an encrypted message as received and signed (CMS AuthEnvelopedData, SPEC.md §5.10).
    public static let encryptedPayloadFile = "payload.cms"

    /// For a message directory whose envelope marks the payload as encrypted: moves the received ciphertext from
    /// `payload` to `payload.cms` and decrypts it into `payload` with the recipient's certificate and key (streaming: memory
    /// does not grow with the payload). Returns false (and does nothing) for an unencrypted message.
    ///
    /// - Throws: ``KlammerClientError/Kind/verificationFailed`` if this participant is not a recipient, the key does
    ///   not fit or the ciphertext was altered; `payload.cms` is kept either way.
    @discardableResult
    public static func decryptPayload(in directory: String, envelope: Envelope, credentials: ClientCredentials) throws(KlammerClientError)
        -> Bool
    {
        guard EncryptedPayload.isEncrypted(envelope) else { return false }
        let payload = (directory as NSString).appendingPathComponent(payloadFile)
        let encrypted = (directory as NSString).appendingPathComponent(encryptedPayloadFile)
        let fm = FileManager.default
        if !fm.fileExists(atPath: encrypted) {
            guard rename(payload, encrypted) == 0 else {
                throw KlammerClientError(.fileError, "cannot rename \(payload) to \(encrypted): \(String(cString: strerror(errno)))")
            }
        }
        do {
            try CMS.decryptFile(at: encrypted, to: payload, certificate: credentials.certificate, key: credentials.privateKey)
        } catch {
            throw KlammerClientError(
                .verificationFailed,
                "message in \(directory) is encrypted but cannot be decrypted with \(credentials.certificate.subject): \(error); the ciphertext is kept in \(encryptedPayloadFile)"
            )
        }
        return true
    }
}
