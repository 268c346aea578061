import Foundation

/// One certificate as `list`, `expiring` and `issue --json` show it.
struct ListedCertificate: Encodable {
    let id: String
    let name: String
    let serial: String
    let fingerprint: String
    let notBefore: Date
    let notAfter: Date
    /// `valid`, `revoked` or `expired`.
    let status: String
    let revokedAt: Date?
    let revocationReason: String?
    let usage: String
    let keyKind: String

    init(_ record: CADatabase.Record, at now: Date) {
        id = record.id
        name = record.name
        serial = record.serial
        fingerprint = record.fingerprint
        notBefore = record.notBefore
        notAfter = record.notAfter
        status = record.displayStatus(at: now)
        revokedAt = record.revokedAt
        revocationReason = record.revocationReason
        usage = record.usage
        keyKind = record.keyKind
    }

    /// Prints `certificates` as a JSON array or as an aligned table.
    static func print(_ certificates: [ListedCertificate], json: Bool) throws {
        if json {
            Swift.print(String(decoding: try CADirectory.encoder.encode(certificates), as: UTF8.self))
            return
        }
        guard !certificates.isEmpty else {
            Swift.print("(no certificates)")
            return
        }
        let idWidth = max(2, certificates.map(\.id.count).max() ?? 0)
        let serialWidth = max(6, certificates.map(\.serial.count).max() ?? 0)
        func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        Swift.print("\(pad("ID", idWidth))  \(pad("SERIAL", serialWidth))  \(pad("STATUS", 7))  \(pad("NOT AFTER", 20))  FINGERPRINT")
        for c in certificates {
            Swift.print("\(pad(c.id, idWidth))  \(pad(c.serial, serialWidth))  \(pad(c.status, 7))  \(pad(c.notAfter.formatted(.iso8601), 20))  \(c.fingerprint)")
        }
    }
}
