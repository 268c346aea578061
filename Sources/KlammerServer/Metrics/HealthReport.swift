public import Foundation
public import KlammerCrypto
public import KlammerStore

/// The answer of `GET /healthz`: healthy only if every check passed (HTTP 200, else 503).
public struct HealthReport: Sendable, Codable, Equatable {
    /// One check and its outcome.
    public struct Check: Sendable, Codable, Equatable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    /// `ok` or `unhealthy`.
    public var status: String
    public var checks: [Check]

    public var isHealthy: Bool { checks.allSatisfy(\.ok) }

    public init(checks: [Check]) {
        self.checks = checks
        self.status = checks.allSatisfy(\.ok) ? "ok" : "unhealthy"
    }

    /// Store writable (open, write path not poisoned, a file can be created in its directory) and the broker
    /// certificate valid for at least `minimumCertificateDays` more days.
    public static func evaluate(
        store: KlammerStore?, certificate: Certificate, minimumCertificateDays: Int,
        now: Date = Date()
    ) -> HealthReport {
        var checks: [Check] = []
        if let store {
            let problem = store.writeProblem()
            checks.append(Check(name: "store_writable", ok: problem == nil, detail: problem ?? "the store accepts writes"))
        } else {
            checks.append(Check(name: "store_writable", ok: false, detail: "the store is not open (starting or stopping)"))
        }
        let days = certificate.notAfter.timeIntervalSince(now) / 86_400
        let notAfter = ISO8601DateFormatter().string(from: certificate.notAfter)
        let certificateOK = days >= Double(minimumCertificateDays)
        checks.append(
            Check(
                name: "broker_certificate", ok: certificateOK,
                detail: certificateOK
                    ? "valid until \(notAfter) (\(Int(days)) days)"
                    : "expires \(notAfter) (\(max(0, Int(days))) days left, fewer than \(minimumCertificateDays)); issue a new broker certificate and run 'klammerctl reload'"
            ))
        return HealthReport(checks: checks)
    }
}
