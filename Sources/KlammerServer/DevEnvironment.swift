import Foundation
public import KlammerBroker
import KlammerCrypto
import KlammerProtocol
public import KlammerStore
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
        self.tlsContext = try Self.tlsContext(pki: pki)
    }

    /// The broker's TLS server context from the dev PKI files (also what a reload re-reads: `DIR/pki`).
    public static func tlsContext(pki: DevPKI) throws -> TLSContext {
        let configuration = TLSConfiguration.server(
            certificateChain: [pki.brokerCertificate], privateKey: pki.brokerKey,
            trustStore: TrustStore(anchors: [pki.ca], crls: [pki.crl]))
        return try TLSContext(configuration: configuration)
    }

    /// The broker's participant id in dev mode (written into every receipt).
    public static let brokerID = "broker:klammer-dev"

    /// The broker core's configuration: dev id, the dev broker certificate and key (receipts are signed with them),
    /// receipt log under `DIR/broker`.
    public func brokerConfiguration() throws -> BrokerConfiguration {
        var configuration = try BrokerConfiguration(
            brokerID: try ParticipantID(Self.brokerID), certificate: pki.brokerCertificate,
            key: pki.brokerKey, directory: (dataDirectory as NSString).appendingPathComponent("broker"))
        configuration.storeDirectory = storeConfiguration.directory
        return configuration
    }

    /// The message store under `DIR/store`.
    public var storeConfiguration: StoreConfiguration {
        StoreConfiguration(directory: (dataDirectory as NSString).appendingPathComponent("store"))
    }

    /// The admin API's Unix socket in dev mode: `DIR/admin.sock`.
    public var adminSocketPath: String {
        (dataDirectory as NSString).appendingPathComponent("admin.sock")
    }

    /// The banner dev mode prints once it listens on `host:port`. Every command line it prints works when pasted
    /// into a shell in the package directory after `swift build` (DevBannerTests runs each of them).
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
        lines.append("  broker id     \(Self.brokerID)  (receipts signed with \(pki.brokerCertificatePath))")
        if pki.participants.count >= 2 {
            let sender = pki.participants[0], recipient = pki.participants[1]
            let common = "--ca \(pki.caCertificatePath) --broker \(host):\(port)"
            lines.append("  try it (in a second terminal; build first with 'swift build'):")
            lines.append(
                "    .build/debug/klammer send \(common) --cert \(sender.certificatePath) --key \(sender.keyPath) --to \(recipient.id) --subject 'Test' README.md"
            )
            lines.append(
                "    .build/debug/klammer receive \(common) --cert \(recipient.certificatePath) --key \(recipient.keyPath) --out inbox --ack"
            )
            lines.append("    .build/debug/klammerctl status --socket \(adminSocketPath)")
        }
        return lines.joined(separator: "\n")
    }
}
