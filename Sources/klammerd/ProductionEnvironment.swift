import Foundation
import KlammerBroker
import KlammerConfig
import KlammerCrypto
import KlammerProtocol
import KlammerTLS
#if canImport(Glibc)
    import Glibc
#endif

/// What `klammerd --config` builds from a ``DaemonConfiguration`` before it listens: the data directory, the
/// participant registry, the broker's credentials and the TLS server context. Every failure names the
/// configuration key whose file is at fault.
struct ProductionEnvironment: Sendable {
    let configuration: DaemonConfiguration
    let registry: ParticipantRegistry
    let brokerCertificate: Certificate
    let brokerKey: PrivateKey
    let tlsContext: TLSContext

    init(configuration: DaemonConfiguration) throws {
        self.configuration = configuration
        let material = try Self.loadTLS(configuration)
        self.brokerCertificate = material.certificate
        self.brokerKey = material.key
        try SecureFileWriter.makePrivateDirectory(configuration.dataDirectory)
        self.registry = try ParticipantRegistry(path: configuration.registryPath)
        self.tlsContext = material.context
    }

    /// The TLS material `tls.*` names, read and checked: CA bundle, CRLs, broker certificate chain and key (which
    /// must match and be private), as a server context. Used at start and by every reload.
    static func loadTLS(_ configuration: DaemonConfiguration) throws -> (context: TLSContext, certificate: Certificate, key: PrivateKey) {
        let tls = configuration.tls
        func fail(_ key: String, _ path: String, _ error: any Error) -> ConfigurationError {
            ConfigurationError(.invalidValue, key: key, source: path, reason: "\(error)")
        }

        let anchors: [Certificate]
        do {
            anchors = try Certificate.loadAll(fromPEMFile: tls.caBundle)
        } catch {
            throw fail("tls.ca_bundle", tls.caBundle, error)
        }
        guard !anchors.isEmpty else {
            throw ConfigurationError(.invalidValue, key: "tls.ca_bundle", source: tls.caBundle, reason: "holds no certificate")
        }
        var crls: [CertificateRevocationList] = []
        for file in tls.crlFiles {
            do {
                crls += try CertificateRevocationList.loadAll(fromPEMFile: file)
            } catch {
                throw fail("tls.crl_files", file, error)
            }
        }
        let chain: [Certificate]
        do {
            chain = try Certificate.loadAll(fromPEMFile: tls.certificate)
        } catch {
            throw fail("tls.certificate", tls.certificate, error)
        }
        guard let leaf = chain.first else {
            throw ConfigurationError(.invalidValue, key: "tls.certificate", source: tls.certificate, reason: "holds no certificate")
        }
        try Self.checkPrivate(tls.key)
        let key: PrivateKey
        do {
            key = try PrivateKey.load(fromFile: tls.key)
        } catch {
            throw fail("tls.key", tls.key, error)
        }
        guard key.matches(leaf.publicKey) else {
            throw ConfigurationError(
                .invalidValue, key: "tls.key", source: tls.key,
                reason:
                    "is not the private key of the certificate in \(tls.certificate) (\(leaf.subject)); configure the key issued with that certificate"
            )
        }
        var server = TLSConfiguration.server(
            certificateChain: chain, privateKey: key,
            trustStore: TrustStore(anchors: anchors, crls: crls, requireCRL: tls.requireCRL))
        server.minimumVersion = tls.allowTLS12 ? .tls12 : .tls13
        server.handshakeTimeout = .seconds(Int64(tls.handshakeTimeoutSeconds))
        do {
            return (try TLSContext(configuration: server), leaf, key)
        } catch {
            throw fail("tls.certificate", tls.certificate, error)
        }
    }

    /// The broker key must not be readable by group or others: refuse to start rather than use a leaked-looking key.
    static func checkPrivate(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigurationError(
                .invalidValue, key: "tls.key", source: path, reason: "cannot be read: \(String(cString: strerror(errno)))")
        }
        if info.st_mode & 0o077 != 0 {
            throw ConfigurationError(
                .invalidValue, key: "tls.key", source: path,
                reason: String(format: "is accessible by group or others (mode %o); run 'chmod 600 %@'", info.st_mode & 0o777, path))
        }
    }

    /// The start-up banner; the `listening` line is what supervisors and tests wait for.
    func banner(port: Int) -> String {
        let versions = configuration.tls.allowTLS12 ? "TLS 1.3 and 1.2" : "TLS 1.3"
        return """
            klammerd \(Klammerd.configuration.version) — broker \(configuration.brokerID)
              listening     \(configuration.listenHost):\(port)  (mutual \(versions), ALPN \(klammerALPN))
              data          \(configuration.dataDirectory)
              participants  \(registry.all().count) registered
            """
    }
}
