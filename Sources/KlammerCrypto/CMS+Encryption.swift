internal import COpenSSL
internal import COpenSSLShims
internal import Foundation

/// End-to-end encryption of payloads as CMS AuthEnvelopedData (RFC 5083/5084), as SPEC.md §3.8 profiles it.
///
/// Profile: content encryption AES-256-GCM (12-byte nonce, 16-byte tag); one RecipientInfo per recipient
/// certificate, identified by issuerAndSerialNumber: EC keys by key agreement (KeyAgreeRecipientInfo, ephemeral-static
/// ECDH, X9.63 KDF with SHA-256, AES-256 key wrap), RSA keys by key transport (KeyTransRecipientInfo, RSAES-OAEP with
/// SHA-256 and MGF1-SHA-256). Output is BER (indefinite lengths, because it is streamed), which
/// `openssl cms -decrypt -inform DER` reads.
extension CMS {
    /// Most recipients one encrypted payload may have (each adds a RecipientInfo of a few hundred bytes).
    public static let maxEncryptionRecipients = 4096

    /// Encrypts `content` for every certificate in `recipients` and returns the CMS AuthEnvelopedData (BER).
    ///
    /// Holds content and ciphertext in memory; use ``encryptFile(at:to:recipients:)`` for large payloads.
    /// - Throws: ``CryptoError/Code/invalidParameter`` without recipients or for a duplicate,
    ///   ``CryptoError/Code/weakKey``/``CryptoError/Code/unsupportedAlgorithm`` for keys Klammer cannot encrypt to.
    public static func encrypt(_ content: [UInt8], recipients: [Certificate]) throws -> [UInt8] {
        try checkRecipients(recipients)
        return try OpenSSLHelpers.withReadBIO(content) { input in
            guard let output = BIO_new(BIO_s_mem()) else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a memory BIO; the process may be out of memory")
            }
            defer { BIO_free(output) }
            // The content is in memory anyway; OpenSSL's streaming encoder also fails on empty GCM content.
            try encrypt(input: input, output: output, recipients: recipients, streaming: false)
            var data: UnsafePointer<CChar>? = nil
            let count = klammer_bio_get_mem_data(output, &data)
            guard let data, count > 0 else {
                throw CryptoError.openSSL(.openSSLFailure, "OpenSSL produced no encrypted output")
            }
            return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
        }
    }

    /// Encrypts the file at `inputPath` into `outputPath` (created or truncated, mode 0600) for `recipients`, streaming:
    /// memory use does not depend on the file size. On failure the output file is removed.
    public static func encryptFile(at inputPath: String, to outputPath: String, recipients: [Certificate]) throws {
        try checkRecipients(recipients)
        try checkDistinct(inputPath, outputPath)
        ERR_clear_error()
        guard let input = BIO_new_file(inputPath, "rb") else {
            throw CryptoError.openSSL(.fileNotFound, "cannot open \(inputPath) for reading; check the path and permissions")
        }
        defer { BIO_free(input) }
        guard let output = try openOutput(outputPath) else {
            throw CryptoError.openSSL(.fileNotFound, "cannot create \(outputPath); check that its directory exists and is writable")
        }
        // OpenSSL's streaming encoder fails on empty AES-GCM content; an empty file needs no streaming.
        let size = (try? FileManager.default.attributesOfItem(atPath: inputPath)[.size] as? NSNumber)?.intValue ?? 1
        do {
            try encrypt(input: input, output: output, recipients: recipients, streaming: size > 0)
            guard klammer_bio_flush(output) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot write \(outputPath) completely; check free disk space")
            }
            BIO_free(output)
        } catch {
            BIO_free(output)
            try? FileManager.default.removeItem(atPath: outputPath)
            throw error
        }
    }

    /// Decrypts a CMS AuthEnvelopedData made for `certificate` with its private `key` and returns the plaintext.
    ///
    /// - Throws: ``CryptoError/Code/notARecipient`` if the structure has no RecipientInfo for `certificate`,
    ///   ``CryptoError/Code/keyMismatch`` if `key` is not `certificate`'s, ``CryptoError/Code/decryptionFailed`` if
    ///   the ciphertext or tag was altered, ``CryptoError/Code/unsupportedAlgorithm`` for EnvelopedData without
    ///   authentication, ``CryptoError/Code/invalidEncoding`` for anything that is not CMS.
    public static func decrypt(_ encrypted: [UInt8], certificate: Certificate, key: PrivateKey) throws -> [UInt8] {
        let cms: OpaquePointer = try OpenSSLHelpers.withReadBIO(encrypted) { input in
            ERR_clear_error()
            guard let cms = d2i_CMS_bio(input, nil) else {
                throw CryptoError.openSSL(
                    .invalidEncoding, "not a CMS structure; expected AuthEnvelopedData (`openssl cms -encrypt -aes-256-gcm -outform DER`)")
            }
            return cms
        }
        defer { CMS_ContentInfo_free(cms) }
        guard let output = BIO_new(BIO_s_mem()) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a memory BIO; the process may be out of memory")
        }
        defer { BIO_free(output) }
        try decrypt(cms, certificate: certificate, key: key, output: output)
        var data: UnsafePointer<CChar>? = nil
        let count = klammer_bio_get_mem_data(output, &data)
        guard let data, count > 0 else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// Decrypts the CMS AuthEnvelopedData in `inputPath` into `outputPath` (mode 0600), streaming.
    ///
    /// OpenSSL parses a CMS structure whole, so the file is first split (``AuthEnvelopedSplitter``): the encrypted
    /// content octets are copied to `outputPath + ".ciphertext"` and OpenSSL decrypts them as detached content through
    /// a file BIO — memory stays flat whatever the size (disk holds one more copy of the ciphertext meanwhile).
    /// The plaintext is written to `outputPath + ".partial"` and renamed only after the GCM tag verified, so
    /// `outputPath` never holds unauthenticated plaintext; on failure nothing is left behind. Files above
    /// `maxEncryptedSize` bytes are refused with ``CryptoError/Code/inputTooLarge`` before reading.
    public static func decryptFile(
        at inputPath: String, to outputPath: String, certificate: Certificate, key: PrivateKey,
        maxEncryptedSize: Int = Int.max
    ) throws {
        let size = (try? FileManager.default.attributesOfItem(atPath: inputPath)[.size] as? NSNumber)?.intValue
        guard let size else {
            throw CryptoError(.fileNotFound, "cannot read \(inputPath); check the path and permissions")
        }
        try InputLimits.check(size, limit: maxEncryptedSize, what: "encrypted file \(inputPath)")
        try checkDistinct(inputPath, outputPath)
        guard let input = FileHandle(forReadingAtPath: inputPath) else {
            throw CryptoError(.fileNotFound, "cannot open \(inputPath) for reading; check the path and permissions")
        }
        defer { try? input.close() }
        let ciphertext = outputPath + ".ciphertext"
        let partial = outputPath + ".partial"
        defer { try? FileManager.default.removeItem(atPath: ciphertext) }
        let fd = open(ciphertext, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CryptoError(.fileNotFound, "cannot create \(ciphertext): \(String(cString: strerror(errno)))")
        }
        let content = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var splitter = AuthEnvelopedSplitter(input: input)
        let structure: [UInt8]
        do {
            structure = try splitter.split(content: content)
            try content.close()
        } catch {
            try? content.close()
            throw error
        }
        ERR_clear_error()
        guard let cms = OpenSSLHelpers.d2i(structure, { d2i_CMS_ContentInfo(nil, $0, $1) }) else {
            throw CryptoError.openSSL(
                .invalidEncoding,
                "\(inputPath) is not a CMS structure OpenSSL can read; expected AuthEnvelopedData (`openssl cms -encrypt -aes-256-gcm -outform DER`)"
            )
        }
        defer { CMS_ContentInfo_free(cms) }
        guard let detached = BIO_new_file(ciphertext, "rb") else {
            throw CryptoError.openSSL(.fileNotFound, "cannot open \(ciphertext) for reading")
        }
        defer { BIO_free(detached) }
        guard let output = try openOutput(partial) else {
            throw CryptoError.openSSL(.fileNotFound, "cannot create \(partial); check that its directory exists and is writable")
        }
        do {
            try decrypt(cms, certificate: certificate, key: key, output: output, detachedContent: detached)
            guard klammer_bio_flush(output) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot write \(partial) completely; check free disk space")
            }
            BIO_free(output)
        } catch {
            BIO_free(output)
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        guard rename(partial, outputPath) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: partial)
            throw CryptoError(.fileNotFound, "cannot rename \(partial) to \(outputPath): \(reason)")
        }
    }

    /// True if `certificate` has a RecipientInfo in the encrypted CMS `encrypted` (without decrypting anything).
    public static func isRecipient(_ certificate: Certificate, of encrypted: [UInt8]) throws -> Bool {
        let cms: OpaquePointer = try OpenSSLHelpers.withReadBIO(encrypted) { input in
            ERR_clear_error()
            guard let cms = d2i_CMS_bio(input, nil) else {
                throw CryptoError.openSSL(.invalidEncoding, "not a CMS structure; expected AuthEnvelopedData")
            }
            return cms
        }
        defer { CMS_ContentInfo_free(cms) }
        try checkAuthEnveloped(cms)
        return try hasRecipientInfo(cms, for: certificate)
    }

    // MARK: - Internals

    private static func checkRecipients(_ recipients: [Certificate]) throws {
        guard !recipients.isEmpty else {
            throw CryptoError(.invalidParameter, "no recipient certificates; encrypting for nobody would make the payload unreadable")
        }
        guard recipients.count <= maxEncryptionRecipients else {
            throw CryptoError(
                .invalidParameter, "\(recipients.count) recipient certificates, more than the limit of \(maxEncryptionRecipients)")
        }
        guard Set(recipients.map(\.fingerprint)).count == recipients.count else {
            throw CryptoError(.invalidParameter, "a recipient certificate is listed twice; give each certificate once")
        }
        for certificate in recipients {
            let key = certificate.publicKey
            guard key.meetsKlammerMinimum else {
                throw CryptoError(
                    .weakKey,
                    "recipient certificate \(certificate.subject) has a \(key.kind) key below BSI TR-02102-1; it cannot receive encrypted payloads"
                )
            }
        }
    }

    /// Output truncates its file, so writing over the input would destroy it before it is read.
    private static func checkDistinct(_ input: String, _ output: String) throws {
        let a = URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path
        let b = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
        guard a != b else {
            throw CryptoError(.invalidParameter, "input and output are the same file (\(input)); write the result to another path")
        }
    }

    /// Opens `path` for writing with mode 0600 (plaintext and ciphertext are nobody else's business).
    private static func openOutput(_ path: String) throws -> OpaquePointer? {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        guard let bio = BIO_new_fd(fd, BIO_CLOSE) else {
            close(fd)
            return nil
        }
        return bio
    }

    private static func encrypt(input: OpaquePointer, output: OpaquePointer, recipients: [Certificate], streaming: Bool) throws {
        // PARTIAL: recipients are added one by one so each gets its key parameters; STREAM: the content is read from
        // `input` while the output is written, so a file of any size passes through a fixed-size buffer.
        var flags = UInt32(CMS_BINARY | CMS_PARTIAL)
        if streaming { flags |= UInt32(CMS_STREAM) }
        ERR_clear_error()
        guard let cms = CMS_encrypt(nil, nil, EVP_aes_256_gcm(), flags) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot create a CMS AuthEnvelopedData structure (AES-256-GCM)")
        }
        defer { CMS_ContentInfo_free(cms) }
        for certificate in recipients {
            try withExtendedLifetime(certificate) {
                guard let info = CMS_add1_recipient_cert(cms, certificate.pointer, flags | UInt32(CMS_KEY_PARAM)) else {
                    throw CryptoError.openSSL(
                        .unsupportedAlgorithm,
                        "cannot encrypt for \(certificate.subject) (\(certificate.publicKey.kind)); Klammer encrypts to EC and RSA certificates"
                    )
                }
                guard let context = CMS_RecipientInfo_get0_pkey_ctx(info) else {
                    throw CryptoError.openSSL(.openSSLFailure, "no key context for recipient \(certificate.subject)")
                }
                switch CMS_RecipientInfo_type(info) {
                case CMS_RECIPINFO_TRANS:
                    // RSAES-OAEP with SHA-256 (BSI TR-02102-1); OpenSSL's default would be PKCS#1 v1.5.
                    guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_OAEP_PADDING) > 0,
                        EVP_PKEY_CTX_set_rsa_oaep_md(context, EVP_sha256()) > 0,
                        EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()) > 0
                    else {
                        throw CryptoError.openSSL(.openSSLFailure, "cannot configure RSA-OAEP for recipient \(certificate.subject)")
                    }
                case CMS_RECIPINFO_AGREE:
                    // X9.63 KDF with SHA-256 instead of OpenSSL's default SHA-1.
                    guard EVP_PKEY_CTX_set_ecdh_kdf_md(context, EVP_sha256()) > 0 else {
                        throw CryptoError.openSSL(.openSSLFailure, "cannot configure the ECDH KDF for recipient \(certificate.subject)")
                    }
                default:
                    throw CryptoError(.unsupportedAlgorithm, "recipient \(certificate.subject) needs an unsupported RecipientInfo type")
                }
            }
        }
        if streaming {
            guard i2d_CMS_bio_stream(output, cms, input, Int32(flags)) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not encrypt the payload (read, cipher or write failed)")
            }
        } else {
            guard CMS_final(cms, input, nil, flags) == 1, i2d_CMS_bio(output, cms) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not encrypt the payload (read, cipher or write failed)")
            }
        }
    }

    private static func checkAuthEnveloped(_ cms: OpaquePointer) throws {
        let nid = CMS_get0_type(cms).map { OBJ_obj2nid($0) } ?? NID_undef
        if nid == NID_pkcs7_enveloped {
            throw CryptoError(
                .unsupportedAlgorithm,
                "the payload is CMS EnvelopedData without authentication; Klammer decrypts only AuthEnvelopedData with AES-GCM (`openssl cms -encrypt -aes-256-gcm`)"
            )
        }
        guard nid == NID_id_smime_ct_authEnvelopedData else {
            throw CryptoError(.invalidEncoding, "the CMS structure is not AuthEnvelopedData (an encrypted payload)")
        }
    }

    private static func hasRecipientInfo(_ cms: OpaquePointer, for certificate: Certificate) throws -> Bool {
        guard let infos = CMS_get0_RecipientInfos(cms) else {
            throw CryptoError.openSSL(.invalidEncoding, "the encrypted CMS structure has no RecipientInfos")
        }
        return withExtendedLifetime(certificate) {
            for index in 0..<klammer_sk_CMS_RecipientInfo_num(infos) {
                guard let info = klammer_sk_CMS_RecipientInfo_value(infos, index) else { continue }
                switch CMS_RecipientInfo_type(info) {
                case CMS_RECIPINFO_TRANS:
                    if CMS_RecipientInfo_ktri_cert_cmp(info, certificate.pointer) == 0 { return true }
                case CMS_RECIPINFO_AGREE:
                    guard let keys = CMS_RecipientInfo_kari_get0_reks(info) else { continue }
                    for keyIndex in 0..<klammer_sk_CMS_RecipientEncryptedKey_num(keys) {
                        if let key = klammer_sk_CMS_RecipientEncryptedKey_value(keys, keyIndex),
                            CMS_RecipientEncryptedKey_cert_cmp(key, certificate.pointer) == 0
                        {
                            return true
                        }
                    }
                default:
                    continue
                }
            }
            return false
        }
    }

    private static func decrypt(
        _ cms: OpaquePointer, certificate: Certificate, key: PrivateKey, output: OpaquePointer,
        detachedContent: OpaquePointer? = nil
    ) throws {
        try checkAuthEnveloped(cms)
        guard try hasRecipientInfo(cms, for: certificate) else {
            throw CryptoError(
                .notARecipient,
                "the payload was not encrypted for \(certificate.subject) (serial \(certificate.serialNumberHex)); only the recipients' certificates from the directory can decrypt it"
            )
        }
        guard key.matches(certificate.publicKey) else {
            throw CryptoError(
                .keyMismatch,
                "the decryption key does not belong to certificate \(certificate.subject); use the key issued with that certificate")
        }
        ERR_clear_error()
        let ok = withExtendedLifetime((certificate, key)) {
            CMS_decrypt(cms, key.pointer, certificate.pointer, detachedContent, output, UInt32(CMS_BINARY))
        }
        guard ok == 1 else {
            throw CryptoError.openSSL(
                .decryptionFailed,
                "the encrypted payload for \(certificate.subject) does not decrypt: the ciphertext or its AES-GCM tag was altered in transit or storage"
            )
        }
    }
}
