import Foundation
import KlammerCrypto

/// The broker's current CA bundle and CRLs (replaced on reload) and, per registered certificate, until when its last
/// successful chain / validity / revocation check holds, so a send verifies a certificate's status once, not per message.
struct CertificateStatusCache {
    /// Bound of the cache (cleared when full).
    static let capacity = 4096
    /// Longest a successful check is reused without asking the trust store again.
    static let maxAge: TimeInterval = 600

    private(set) var trustStore: TrustStore?
    private var verifiedUntil: [String: Date] = [:]

    /// A new trust store (reload): every earlier decision is forgotten.
    mutating func replace(_ store: TrustStore?) {
        trustStore = store
        verifiedUntil.removeAll(keepingCapacity: true)
    }

    /// True if `fingerprint` was checked and the check still holds at `now`.
    func isVerified(_ fingerprint: String, at now: Date) -> Bool {
        guard let until = verifiedUntil[fingerprint] else { return false }
        return now < until
    }

    /// Remembers a successful check of `certificate` at `now`: it holds until the certificate expires, the first CRL
    /// is due (`nextUpdate`), or ``maxAge`` passed, whichever comes first.
    mutating func remember(_ certificate: Certificate, fingerprint: String, at now: Date) {
        var until = min(certificate.notAfter, now + Self.maxAge)
        for crl in trustStore?.crls ?? [] {
            if let next = crl.nextUpdate { until = min(until, next) }
        }
        if verifiedUntil.count >= Self.capacity { verifiedUntil.removeAll(keepingCapacity: true) }
        verifiedUntil[fingerprint] = until
    }
}
