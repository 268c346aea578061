internal import COpenSSL
internal import COpenSSLShims
import KlammerCrypto
import NIOCore

/// One OpenSSL `SSL*` with one ciphertext BIO (`klammer_bio_new`, C shims): ciphertext from the network stays in
/// `inbound` and OpenSSL reads it from there during each SSL call (no copy into a memory BIO); ciphertext OpenSSL
/// produces while encrypting application data is written straight into the outbound `ByteBuffer`, and anything
/// else it writes (handshake, alerts, tickets) goes to a spill buffer that is drained in order.
/// Not thread-safe; owned by one handler on one event loop.
final class TLSConnection {
    enum HandshakeResult {
        case complete
        case wantRead
        case failed(TLSError)
    }

    enum ReadResult {
        case data(ByteBuffer)
        case wantRead
        case closeNotify
        case failed(TLSError)
    }

    let context: TLSContext
    private let ssl: OpaquePointer
    private let bio: OpaquePointer
    /// Ciphertext received but not yet consumed by OpenSSL.
    private var inbound = ByteBuffer()

    init(context: TLSContext) throws {
        self.context = context
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSContext.openSSLError(.internalError, "cannot allocate an SSL connection")
        }
        guard let bio = klammer_bio_new() else {
            SSL_free(ssl)
            throw TLSContext.openSSLError(.internalError, "cannot allocate the ciphertext BIO")
        }
        SSL_set_bio(ssl, bio, bio)  // the same BIO both ways: ssl takes the one reference
        self.ssl = ssl
        self.bio = bio
        switch context.configuration.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let host = context.configuration.serverHostname {
                _ = klammer_SSL_set_tlsext_host_name(ssl, host)
                _ = SSL_set1_host(ssl, host)
            }
        }
    }

    deinit { SSL_free(ssl) }

    // MARK: Ciphertext in/out

    /// Hands ciphertext received from the network to OpenSSL (kept until an SSL call consumes it).
    func feed(_ buffer: ByteBuffer) {
        if inbound.readableBytes == 0 {
            inbound = buffer
        } else {
            inbound.discardReadBytes()
            var buffer = buffer
            inbound.writeBuffer(&buffer)
        }
    }

    /// Bytes of ciphertext received but not yet consumed by OpenSSL.
    var pendingInboundCiphertext: Int { inbound.readableBytes }

    /// Runs an SSL call with `inbound` as the BIO's input, then drops what OpenSSL consumed.
    private func withInbound<T>(_ call: () -> T) -> T {
        guard inbound.readableBytes > 0 else {
            klammer_bio_set_input(bio, nil, 0)
            return call()
        }
        let (result, consumed) = inbound.withUnsafeReadableBytes { bytes in
            klammer_bio_set_input(bio, bytes.baseAddress, bytes.count)
            defer { klammer_bio_set_input(bio, nil, 0) }
            let result = call()
            return (result, klammer_bio_input_consumed(bio))
        }
        inbound.moveReaderIndex(forwardBy: consumed)
        if inbound.readableBytes == 0 { inbound = ByteBuffer() }  // release the network buffer
        return result
    }

    /// Ciphertext OpenSSL wants to send outside `encrypt` (handshake, alerts, tickets), if any.
    func drainOutbound(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = klammer_bio_spill_pending(bio)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { out in
            klammer_bio_drain_spill(bio, out.baseAddress!, pending)
        }
        return buffer
    }

    // MARK: Handshake, read, write, shutdown

    func doHandshake() -> HandshakeResult {
        ERR_clear_error()
        let rc = withInbound { SSL_do_handshake(ssl) }
        if rc == 1 { return .complete }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .wantRead }
        return .failed(makeError(sslError: error, duringHandshake: true))
    }

    /// An outcome met after some plaintext was already returned; reported on the next call.
    private var deferredReadResult: ReadResult?

    /// Decrypts as many records as are available, up to 64 KiB per returned buffer (fewer, larger reads up the
    /// pipeline). A non-data outcome met after some data is kept and returned by the next call.
    func read(allocator: ByteBufferAllocator) -> ReadResult {
        if let deferred = deferredReadResult {
            deferredReadResult = nil
            return deferred
        }
        let available = inbound.readableBytes + Int(SSL_pending(ssl))
        let capacity = min(64 * 1024, max(4 * 1024, available))
        var buffer = allocator.buffer(capacity: capacity)
        var outcome: ReadResult?
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out in
            var filled = 0
            while filled < out.count {
                ERR_clear_error()
                let rc = withInbound { SSL_read(ssl, out.baseAddress! + filled, Int32(out.count - filled)) }
                if rc > 0 {
                    filled += Int(rc)
                    continue
                }
                let error = SSL_get_error(ssl, rc)
                switch error {
                case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: outcome = .wantRead
                case SSL_ERROR_ZERO_RETURN: outcome = .closeNotify
                default: outcome = .failed(makeError(sslError: error, duringHandshake: false))
                }
                break
            }
            return filled
        }
        if buffer.readableBytes > 0 {
            if let outcome, case .wantRead = outcome {} else { deferredReadResult = outcome }
            return .data(buffer)
        }
        return outcome ?? .wantRead
    }

    /// Encrypts all of `bytes` into one buffer of ciphertext records (the BIO never blocks, so SSL_write either takes
    /// everything or fails). Spilled ciphertext written before is put first, so the order on the wire is kept.
    func encrypt(_ bytes: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) -> Result<ByteBuffer, TLSError> {
        let spilled = klammer_bio_spill_pending(bio)
        // TLS 1.3 adds 22 bytes per record of at most 16 KiB (TLS 1.2 GCM: 29); anything beyond spills.
        let capacity = spilled + bytes.count + (bytes.count / 16_384 + 1) * 32 + 64
        var buffer = allocator.buffer(capacity: capacity)
        if spilled > 0 {
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: spilled) { out in
                klammer_bio_drain_spill(bio, out.baseAddress!, spilled)
            }
        }
        guard bytes.count > 0 else { return .success(buffer) }
        ERR_clear_error()
        var rc: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity - spilled) { out in
            klammer_bio_set_output(bio, out.baseAddress!, out.count)
            rc = withInbound { SSL_write(ssl, bytes.baseAddress!, Int32(bytes.count)) }
            return klammer_bio_take_output(bio)
        }
        guard rc > 0 else { return .failure(makeError(sslError: SSL_get_error(ssl, rc), duringHandshake: false)) }
        if let more = drainOutbound(allocator: allocator) {
            var more = more
            buffer.writeBuffer(&more)
        }
        return .success(buffer)
    }

    /// Queues a close_notify alert in the write BIO.
    func shutdown() {
        ERR_clear_error()
        _ = withInbound { SSL_shutdown(ssl) }
        ERR_clear_error()
    }

    // MARK: After the handshake

    var sessionReused: Bool { klammer_SSL_session_reused(ssl) == 1 }

    var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The verified peer identity. Call only after a successful handshake.
    func peerIdentity() throws -> PeerIdentity {
        guard let x509 = SSL_get1_peer_certificate(ssl) else {
            throw TLSError(.peerCertificateMissing, "the peer presented no certificate")
        }
        let verify = SSL_get_verify_result(ssl)
        guard verify == X509_V_OK else {
            X509_free(x509)
            throw TLSError(
                .certificateVerificationFailed, "peer certificate did not verify: \(String(cString: X509_verify_cert_error_string(verify)))"
            )
        }
        // Wraps OpenSSL's already parsed certificate (the reference from get1) instead of re-encoding and re-parsing
        // it: a DER parse in OpenSSL 3 decodes the public key through the provider decoders, a visible part of the
        // per-handshake cost.
        let certificate: Certificate
        do { certificate = try Certificate(taking: x509) } catch {
            throw TLSError(.certificateVerificationFailed, "cannot use the peer certificate: \(error)")
        }
        let version: TLSVersion = SSL_version(ssl) == TLS1_3_VERSION ? .tls13 : .tls12
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        return PeerIdentity(
            fingerprint: certificate.fingerprint, certificate: certificate,
            applicationProtocol: negotiatedALPN, protocolVersion: version, cipherSuite: cipher)
    }

    // MARK: Errors

    /// Maps OpenSSL's state after a failed call into a ``TLSError`` with a specific code and a readable reason.
    private func makeError(sslError: Int32, duringHandshake: Bool) -> TLSError {
        let queue = CryptoError.drainOpenSSLErrors()
        let joined = queue.joined(separator: "; ")
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK && duringHandshake {
            let reason = String(cString: X509_verify_cert_error_string(verify))
            if verify == X509_V_ERR_EE_KEY_TOO_SMALL || verify == X509_V_ERR_CA_KEY_TOO_SMALL || verify == X509_V_ERR_CA_MD_TOO_WEAK {
                return TLSError(
                    .keyTooSmall,
                    "peer certificate refused: \(reason) (X509 error \(verify)); Klammer requires RSA ≥ 3072 or EC ≥ 256 bits and SHA-2",
                    openSSLErrors: queue)
            }
            return TLSError(
                .certificateVerificationFailed, "peer certificate refused: \(reason) (X509 error \(verify))", openSSLErrors: queue)
        }
        let lowered = joined.lowercased()
        func has(_ text: String) -> Bool { lowered.contains(text) }
        if sslError == SSL_ERROR_SYSCALL && queue.isEmpty {
            return TLSError(.internalError, "TLS I/O failed (SSL_ERROR_SYSCALL)", openSSLErrors: queue)
        }
        if has("peer did not return a certificate") {
            return TLSError(
                .peerCertificateMissing, "the peer sent no client certificate; Klammer requires mutual TLS", openSSLErrors: queue)
        }
        if has("wrong version number") || has("http request") || has("packet length too long") || has("record layer failure") {
            return TLSError(
                .handshakeFailed, "the peer did not speak TLS 1.2/1.3 (garbage, plaintext or an old protocol instead of a ClientHello)",
                openSSLErrors: queue)
        }
        if has("unsupported protocol") || has("protocol version") || has("no protocols available") {
            return TLSError(
                .protocolVersionRefused,
                "protocol version refused: the policy allows \(context.configuration.minimumVersion == .tls13 ? "TLS 1.3 only" : "TLS 1.2 and 1.3")",
                openSSLErrors: queue)
        }
        if has("no application protocol") {
            return TLSError(
                .noApplicationProtocol,
                "no common ALPN protocol (we offer \(context.configuration.applicationProtocols.joined(separator: ", ")))",
                openSSLErrors: queue)
        }
        if has("alert") {
            let alert = queue.first(where: { $0.lowercased().contains("alert") }) ?? joined
            return TLSError(
                .alertReceived, "the peer refused the connection with a TLS alert: \(TLSConnection.reasonText(alert))", openSSLErrors: queue
            )
        }
        if has("certificate verify failed") {
            return TLSError(.certificateVerificationFailed, "peer certificate refused", openSSLErrors: queue)
        }
        if has("ee key too small") || has("key too small") {
            return TLSError(.keyTooSmall, "a key is below the BSI minimum (RSA ≥ 3072, EC ≥ 256 bits)", openSSLErrors: queue)
        }
        let what = duringHandshake ? "TLS handshake failed" : "TLS record processing failed"
        let detail = queue.last.map { TLSConnection.reasonText($0) } ?? "SSL error \(sslError)"
        return TLSError(duringHandshake ? .handshakeFailed : .internalError, "\(what): \(detail)", openSSLErrors: queue)
    }

    /// The reason part of an OpenSSL error string (`error:0A000412:SSL routines::sslv3 alert bad certificate`).
    static func reasonText(_ entry: String) -> String {
        if let range = entry.range(of: "::") { return String(entry[range.upperBound...]) }
        return entry
    }
}
