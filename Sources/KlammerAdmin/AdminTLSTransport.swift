import Foundation
import KlammerCrypto
import KlammerTLS

/// How `klammerctl --admin-url https://HOST:PORT` reaches the admin API over mutual TLS: the admin certificate and
/// key, the CA the broker's certificate must chain to, and where to connect.
public struct AdminTLSTransport: Sendable {
    public var host: String
    public var port: Int
    /// TLS client context with the admin certificate, ALPN `http/1.1`.
    let context: TLSContext

    /// - Parameters:
    ///   - url: `https://host:port` (a path is ignored).
    ///   - certificateFile, keyFile: the admin certificate (PEM, leaf first) and its private key.
    ///   - caFile: the CA bundle the broker's certificate must chain to.
    public init(url: String, certificateFile: String, keyFile: String, caFile: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "https", let host = components.host,
            !host.isEmpty
        else {
            throw AdminError(.invalidSetup, "'\(url)' is not an admin URL; write https://HOST:PORT (the address of admin.tls.listen)")
        }
        guard let port = components.port, (1...65535).contains(port) else {
            throw AdminError(.invalidSetup, "'\(url)' names no port; write https://HOST:PORT (the port of admin.tls.listen)")
        }
        let chain: [Certificate]
        let key: PrivateKey
        let anchors: [Certificate]
        do {
            chain = try Certificate.loadAll(fromPEMFile: certificateFile)
            key = try PrivateKey.load(fromFile: keyFile)
            anchors = try Certificate.loadAll(fromPEMFile: caFile)
        } catch {
            throw AdminError(.invalidSetup, "cannot read the admin TLS material (--admin-cert, --admin-key, --admin-ca): \(error)")
        }
        guard !chain.isEmpty, !anchors.isEmpty else {
            throw AdminError(.invalidSetup, "--admin-cert and --admin-ca must each hold at least one PEM certificate")
        }
        // No CRL needed on the client side: the broker's certificate is checked against the CA only, as curl does.
        var configuration = TLSConfiguration.client(
            certificateChain: chain, privateKey: key, trustStore: TrustStore(anchors: anchors, crls: [], requireCRL: false))
        configuration.applicationProtocols = [AdminTLSServer.applicationProtocol]
        do {
            self.context = try TLSContext(configuration: configuration)
        } catch {
            throw AdminError(.invalidSetup, "the admin TLS material is not usable: \(error)")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = port
    }
}
