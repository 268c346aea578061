import Foundation
import KlammerPKI

extension ListedCertificate {
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
            Swift.print(
                "\(pad(c.id, idWidth))  \(pad(c.serial, serialWidth))  \(pad(c.status, 7))  \(pad(c.notAfter.formatted(.iso8601), 20))  \(c.fingerprint)"
            )
        }
    }
}
