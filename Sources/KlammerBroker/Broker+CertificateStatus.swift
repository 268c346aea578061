import Foundation
public import KlammerCrypto
import KlammerProtocol

extension Broker {
    /// Replaces the CA bundle and CRLs registered certificates are checked against (klammerd calls this at start and
    /// on every reload with the TLS trust store). nil turns the check off (tests of the broker core alone).
    public func updateTrustStore(_ trustStore: TrustStore?) {
        certificateStatus.withLock { $0.replace(trustStore) }
    }

    /// Refuses a registered certificate that the current trust store no longer accepts at the broker clock (SPEC.md
    /// §7.1 check 10a): revoked by a CRL loaded since it was registered, expired or not yet valid, or no longer chained
    /// to the CA bundle. Registration checked the certificate once; a signature is only as good as the certificate's
    /// status when the broker accepts it.
    ///
    /// - Throws: `CERTIFICATE_REVOKED` (revoked, or no longer issued by a trusted CA), `CERTIFICATE_EXPIRED`,
    ///   `INTERNAL_ERROR` (retryable) if the broker's own CRL is stale or missing.
    func checkStatus(of certificate: Certificate, of participant: String, what: String) throws {
        let now = configuration.now()
        let fingerprint = certificate.fingerprint.hex
        let store: TrustStore? = certificateStatus.withLock { cache in
            cache.isVerified(fingerprint, at: now) ? nil : cache.trustStore
        }
        guard let store else { return }
        do {
            try store.verify(certificate, at: now, purpose: .any)
        } catch let error as CryptoError {
            throw Self.statusRefusal(error, certificate: certificate, participant: participant, what: what)
        } catch {
            throw ProtocolError(.internalError, "cannot check the status of certificate \(certificate.subject): \(error)")
        }
        certificateStatus.withLock { $0.remember(certificate, fingerprint: fingerprint, at: now) }
    }

    /// True if `certificate` passes ``checkStatus(of:of:what:)`` (directory answers list only such certificates).
    func hasValidStatus(_ certificate: Certificate, of participant: String) -> Bool {
        (try? checkStatus(of: certificate, of: participant, what: "directory")) != nil
    }

    static func statusRefusal(_ error: CryptoError, certificate: Certificate, participant: String, what: String) -> ProtocolError {
        let name = "certificate \(certificate.subject) (serial \(certificate.serialNumberHex)) of \(participant)"
        switch error.code {
        case .certificateRevoked:
            return ProtocolError(
                .certificateRevoked,
                "the \(what) signature was made with \(name), which the CA has revoked (CRL); sign with another registered certificate or ask the operator for a new one"
            )
        case .certificateExpired, .certificateNotYetValid:
            return ProtocolError(
                .certificateExpired,
                "the \(what) signature was made with \(name), which is not valid now (notBefore \(certificate.notBefore.iso8601String), notAfter \(certificate.notAfter.iso8601String)); sign with a current registered certificate"
            )
        case .crlExpired, .crlNotYetValid, .crlNotFound:
            return ProtocolError(
                .internalError,
                "the broker cannot check the revocation status of \(name): \(error.message); the operator must install a current CRL and reload (klammerctl pki crl, klammerctl reload)"
            )
        default:
            return ProtocolError(
                .certificateRevoked,
                "\(name) is registered but no longer accepted by the broker's CA bundle (\(error.message)); the operator must register a certificate of a trusted CA"
            )
        }
    }
}

extension Date {
    /// ISO 8601 in UTC, for messages.
    fileprivate var iso8601String: String { ISO8601DateFormatter().string(from: self) }
}
