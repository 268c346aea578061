import Foundation
import KlammerAdmin
import KlammerClient
import KlammerCrypto
import KlammerProtocol

/// The recipients of W4 (fan-out): each a participant id and the credentials its connection authenticates with.
///
/// For the bench's own `klammerd --dev` they are created at run time: keys and certificates from the dev CA (its key
/// sits in the temporary data directory), registered through the dev broker's admin socket. For an existing broker
/// (`--broker`) they come from `--fanout-profiles FILE`, a list of profile files, one per line.
struct FanOutRecipients: Sendable {
    struct Member: Sendable {
        var id: ParticipantID
        var credentials: ClientCredentials
    }

    var members: [Member]

    /// Most recipients of one W4 message (the broker's default limit is 1000; 100 is the reference workload).
    static let maximumCount = 1000

    /// Issues `count` participant certificates (P-256) from the dev CA under `broker.pki` and registers them through
    /// the dev admin socket (`DATA/admin.sock`) as `bench:fanout-NNN`.
    static func register(count: Int, on broker: BenchBroker) throws -> FanOutRecipients {
        let caFile = broker.pki + "/ca.pem", caKeyFile = broker.pki + "/ca.key"
        guard let caCertificate = try Certificate.loadAll(fromPEMFile: caFile).first else {
            throw KlammerClientError(.invalidProfile, "\(caFile) holds no certificate; the dev broker's PKI is incomplete")
        }
        let ca = try CertificateAuthority(certificate: caCertificate, key: try PrivateKey.load(fromFile: caKeyFile))
        let trustStore = try ClientCredentials.loadTrustStore(broker.profile("ags:13004000"))
        let admin = AdminClient(socketPath: broker.dataDirectory + "/admin.sock", timeoutSeconds: 30)
        var members: [Member] = []
        members.reserveCapacity(count)
        for index in 0..<count {
            let id = String(format: "bench:fanout-%03d", index)
            let key = try PrivateKey.generate(.p256)
            let certificate = try ca.issue(
                commonName: "Klammer bench recipient \(index)", organization: "Klammer bench",
                subjectAlternativeNames: [CertificateAuthority.participantURIPrefix + id], publicKey: key.publicKey, usage: .client)
            let request = AddParticipantRequest(id: id, name: "Bench recipient \(index)", certificatePem: certificate.pemString)
            _ = try admin.call("POST", "/v1/participants", body: request, as: AdminParticipantView.self)
            members.append(
                Member(
                    id: try ParticipantID(id),
                    credentials: try ClientCredentials(certificateChain: [certificate], privateKey: key, trustStore: trustStore)))
        }
        return FanOutRecipients(members: members)
    }

    /// Loads the recipients of an existing broker: `listFile` names one profile file per line (blank lines and
    /// `#` comments skipped); each profile needs `cert` and `key`, and takes `ca` (and `crl`) from `base` if absent.
    /// The participant id is the one in each certificate (`URI:urn:klammer:participant:<id>`).
    static func load(listFile: String, base: ClientProfile) throws -> FanOutRecipients {
        guard let data = FileManager.default.contents(atPath: listFile), data.count <= 1 << 20 else {
            throw KlammerClientError(
                .invalidArgument, "cannot read the fan-out profile list \(listFile) (at most 1 MiB, one profile file per line)")
        }
        var members: [Member] = []
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let path = line.trimmingCharacters(in: .whitespaces)
            if path.isEmpty || path.hasPrefix("#") { continue }
            guard members.count < maximumCount else {
                throw KlammerClientError(.invalidArgument, "\(listFile) lists more than \(maximumCount) recipients")
            }
            let profile = try ClientProfile.load(fromFile: path).merged(over: base)
            let credentials = try ClientCredentials.load(profile)
            guard let id = credentials.participantID else {
                throw KlammerClientError(
                    .invalidProfile,
                    "the certificate of \(path) names no participant (no \(CertificateAuthority.participantURIPrefix)… SAN)")
            }
            members.append(Member(id: id, credentials: credentials))
        }
        guard !members.isEmpty else {
            throw KlammerClientError(.invalidArgument, "\(listFile) lists no profile files; W4 needs at least one recipient")
        }
        return FanOutRecipients(members: members)
    }
}
