import Foundation
public import KlammerBroker
import KlammerCrypto
public import KlammerTLS

/// Everything `klammerd --dev` needs, created on first start and reused afterwards: the throwaway PKI, a
/// participant registry holding the demo participants, and the broker's TLS server context.
public struct DevEnvironment: Sendable {
    public let dataDirectory: String
    public let pki: DevPKI
    public let registry: ParticipantRegistry
    public let tlsContext: TLSContext

    public init(dataDirectory: String) throws {
        let absolute = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        self.dataDirectory = absolute
        self.pki = try DevPKI.loadOrCreate(dataDirectory: absolute)
        self.registry = try ParticipantRegistry(path: (absolute as NSString).appendingPathComponent("registry.json"))
        for participant in pki.participants where registry.participant(id: participant.id) == nil {
            try registry.add(id: participant.id, name: participant.name, certificate: participant.certificate)
        }
        let configuration = TLSConfiguration.server(
            certificateChain: [pki.brokerCertificate], privateKey: pki.brokerKey,
            trustStore: TrustStore(anchors: [pki.ca], crls: [pki.crl]))
        self.tlsContext = try TLSContext(configuration: configuration)
    }

    /// The banner dev mode prints once it listens on `host:port`.
    public func banner(host: String, port: Int) -> String {
        var lines: [String] = []
        lines.append("Klammer dev broker — throwaway PKI, NOT for production")
        lines.append("  listening     \(host):\(port)  (mutual TLS 1.3, ALPN \(klammerALPN))")
        lines.append("  data          \(dataDirectory)")
        lines.append("  CA            \(pki.caCertificatePath)")
        lines.append("  CRL           \(pki.crlPath)")
        lines.append("  broker        \(pki.brokerCertificatePath)")
        lines.append("  participants")
        for participant in pki.participants {
            lines.append("    \(participant.id)  \(participant.name)")
            lines.append("      cert  \(participant.certificatePath)")
            lines.append("      key   \(participant.keyPath)")
            lines.append("      fingerprint \(participant.certificate.fingerprint.hex)")
        }
        if let first = pki.participants.first {
            lines.append("  try the transport (type a line; it is echoed):")
            lines.append("    openssl s_client -connect \(host):\(port) -alpn \(klammerALPN) -CAfile \(pki.caCertificatePath) -cert \(first.certificatePath) -key \(first.keyPath) -quiet")
        }
        return lines.joined(separator: "\n")
    }
}
