import Foundation
public import KlammerCrypto
#if canImport(Glibc)
    import Glibc
#endif

/// What the tests of `klammerd` and of its admin API share: running our binaries, a production setup (CA, CRL,
/// broker certificate and a klammer.yaml using them) and an `openssl s_client` probe.
public enum KlammerdHarness {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public static func binary(_ name: String) -> String { BuiltExecutable.path(name) }

    /// Runs a binary to completion (no time limit), without the caller's KLAMMER_ADMIN_SOCKET.
    /// `directory` is unused: the runner keeps stderr in its own scratch file.
    public static func run(_ name: String, _ arguments: [String], environment: [String: String] = [:], in directory: String) throws
        -> ProcessResult
    {
        try ProcessRunner.run(
            name.hasPrefix("/") ? name : binary(name), arguments,
            environment: ProcessRunner.environment(removing: { $0 == "KLAMMER_ADMIN_SOCKET" }, adding: environment),
            timeoutSeconds: nil)
    }

    /// A CA, CRL and broker certificate/key in `directory` and a klammer.yaml using them (relative paths).
    @discardableResult
    public static func writeProductionSetup(in directory: String) throws -> (config: String, ca: CertificateAuthority) {
        let ca = try TestCA("Test Production CA")
        let crl = try ca.authority.makeCRL(revoked: [], nextUpdate: Date() + 7 * 86400)
        let broker = try ca.issue("klammer-test-broker", subjectAlternativeNames: TestCA.loopbackNames, usage: .clientAndServer)
        let key = broker.key
        try ca.certificate.pemString.write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
        try crl.pemString.write(toFile: directory + "/crl.pem", atomically: true, encoding: .utf8)
        try broker.certificate.pemString.write(toFile: directory + "/broker.pem", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(
            atPath: directory + "/broker.key", contents: Data(key.pkcs8PEM.utf8), attributes: [.posixPermissions: 0o600])
        chmod(directory + "/broker.key", 0o600)
        let config = directory + "/klammer.yaml"
        try """
        broker_id: "broker:test-1"
        data_dir: data
        listen:
          host: 127.0.0.1
          port: 7700
        tls:
          ca_bundle: ca.pem
          crl_files: [crl.pem]
          certificate: broker.pem
          key: broker.key
        log:
          level: warning
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return (config, ca.authority)
    }

    /// `openssl s_client` with a client certificate: sends one line, returns what the broker sent back. Bounded:
    /// stdin stays open 1.5 s, coreutils `timeout` kills the client after 3 s (an admitted connection stays open).
    public static func sClient(port: Int, ca: String, cert: String, key: String, in directory: String) throws -> String {
        let command =
            "(printf 'ping\\n'; sleep 1.5) | timeout -k 1 3 openssl s_client -connect 127.0.0.1:\(port) -alpn klammer/1 -CAfile \"$CA\" -cert \"$CERT\" -key \"$KEY\" -quiet 2>/dev/null"
        return try run("/bin/sh", ["-c", command], environment: ["CA": ca, "CERT": cert, "KEY": key], in: directory).stdout
    }

    /// A port that was free a moment ago (the kernel picks it for a socket bound to port 0, which is then closed).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Failure(description: "cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
