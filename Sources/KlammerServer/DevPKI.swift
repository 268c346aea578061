import Foundation
public import KlammerCrypto
import KlammerBroker
import KlammerPKI

/// The throwaway PKI of `klammerd --dev`: a CA, a CRL, a broker certificate and a handful of demo participants,
/// generated once under the data directory (keys mode 0600) and reused on later starts.
///
/// Never use it in production: the CA key sits next to the data it protects.
public struct DevPKI: Sendable {
    /// A demo participant: its registry id, display name and credential files.
    public struct Participant: Sendable {
        public let id: String
        public let name: String
        public let certificatePath: String
        public let keyPath: String
        public let certificate: Certificate
    }

    /// The participants dev mode creates: real municipalities and a district of Mecklenburg-Vorpommern.
    public static let demoParticipants: [(id: String, name: String)] = [
        ("ags:13004000", "Landeshauptstadt Schwerin"),
        ("ags:13003000", "Hanse- und Universitätsstadt Rostock"),
        ("ags:13076000", "Landkreis Ludwigslust-Parchim")
    ]

    public let directory: String
    public let caCertificatePath: String
    public let caKeyPath: String
    public let crlPath: String
    public let brokerCertificatePath: String
    public let brokerKeyPath: String
    public let participants: [Participant]

    public let ca: Certificate
    public let brokerCertificate: Certificate
    public let brokerKey: PrivateKey
    public let crl: CertificateRevocationList

    /// Loads the dev PKI under `dataDirectory/pki`, generating it first if it does not exist yet.
    /// Generation writes into a temporary directory that is renamed into place, so a crash never leaves half a PKI.
    public static func loadOrCreate(dataDirectory: String) throws -> DevPKI {
        let directory = (dataDirectory as NSString).appendingPathComponent("pki")
        if !FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("ca.pem")) {
            try SecureFileWriter.makePrivateDirectory(dataDirectory)
            let staging = "\(directory).tmp-\(ProcessInfo.processInfo.processIdentifier)"
            try? FileManager.default.removeItem(atPath: staging)
            try generate(into: staging)
            if FileManager.default.fileExists(atPath: directory) {
                // A leftover without ca.pem is an interrupted earlier attempt: keep it for inspection.
                let aside = "\(directory).incomplete-\(Int(Date().timeIntervalSince1970))"
                try FileManager.default.moveItem(atPath: directory, toPath: aside)
            }
            try FileManager.default.moveItem(atPath: staging, toPath: directory)
            try SecureFileWriter.fsyncDirectory(dataDirectory)
        }
        return try load(directory: directory)
    }

    static func participantDirectoryName(_ id: String) -> String {
        id.replacingOccurrences(of: ":", with: "-")
    }

    private static func generate(into directory: String) throws {
        try SecureFileWriter.makePrivateDirectory(directory)
        let participantsDirectory = (directory as NSString).appendingPathComponent("participants")
        try SecureFileWriter.makePrivateDirectory(participantsDirectory)
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        let ca = try CertificateAuthority.create(
            commonName: "Klammer Dev CA (throwaway)", organization: "Klammer development", keyKind: .p256)
        try SecureFileWriter.write(Array(ca.certificate.pemString.utf8), to: path("ca.pem"), mode: 0o644)
        try SecureFileWriter.write(Array(ca.key.pkcs8PEM.utf8), to: path("ca.key"), mode: 0o600)
        let crl = try ca.makeCRL(revoked: [], nextUpdate: Date() + 365 * 86400)
        try SecureFileWriter.write(Array(crl.pemString.utf8), to: path("crl.pem"), mode: 0o644)

        let brokerKey = try PrivateKey.generate(.p256)
        let brokerCertificate = try ca.issue(
            commonName: "klammer-dev-broker", organization: "Klammer development",
            subjectAlternativeNames: ["DNS:localhost", "IP:127.0.0.1", "URI:urn:klammer:broker:dev"],
            publicKey: brokerKey.publicKey, usage: .clientAndServer)
        try SecureFileWriter.write(Array(brokerCertificate.pemString.utf8), to: path("broker.pem"), mode: 0o644)
        try SecureFileWriter.write(Array(brokerKey.pkcs8PEM.utf8), to: path("broker.key"), mode: 0o600)

        for participant in demoParticipants {
            let dir = (participantsDirectory as NSString).appendingPathComponent(participantDirectoryName(participant.id))
            try SecureFileWriter.makePrivateDirectory(dir)
            let key = try PrivateKey.generate(.p256)
            let certificate = try ca.issueParticipant(
                id: participant.id, name: participant.name, organization: participant.name,
                publicKey: key.publicKey, usage: .client)
            try SecureFileWriter.write(
                Array(certificate.pemString.utf8), to: (dir as NSString).appendingPathComponent("cert.pem"), mode: 0o644)
            try SecureFileWriter.write(
                Array(key.pkcs8PEM.utf8), to: (dir as NSString).appendingPathComponent("key.pem"), mode: 0o600)
            try SecureFileWriter.write(
                Array("\(participant.id)\n\(participant.name)\n".utf8),
                to: (dir as NSString).appendingPathComponent("participant.txt"), mode: 0o644)
        }
    }

    private static func load(directory: String) throws -> DevPKI {
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        func one(_ file: String) throws -> Certificate {
            guard let certificate = try Certificate.loadAll(fromPEMFile: file).first else {
                throw ServerError(.invalidPKI, "\(file) holds no certificate; delete \(directory) to let dev mode generate a new PKI.")
            }
            return certificate
        }
        let participantsDirectory = path("participants")
        var participants: [Participant] = []
        for participant in demoParticipants {
            let dir = (participantsDirectory as NSString).appendingPathComponent(participantDirectoryName(participant.id))
            let certificatePath = (dir as NSString).appendingPathComponent("cert.pem")
            participants.append(
                Participant(
                    id: participant.id, name: participant.name,
                    certificatePath: certificatePath,
                    keyPath: (dir as NSString).appendingPathComponent("key.pem"),
                    certificate: try one(certificatePath)))
        }
        guard let crl = try CertificateRevocationList.loadAll(fromPEMFile: path("crl.pem")).first else {
            throw ServerError(.invalidPKI, "\(path("crl.pem")) holds no CRL; delete \(directory) to regenerate the dev PKI.")
        }
        return DevPKI(
            directory: directory,
            caCertificatePath: path("ca.pem"), caKeyPath: path("ca.key"), crlPath: path("crl.pem"),
            brokerCertificatePath: path("broker.pem"), brokerKeyPath: path("broker.key"),
            participants: participants,
            ca: try one(path("ca.pem")),
            brokerCertificate: try one(path("broker.pem")),
            brokerKey: try PrivateKey.load(fromFile: path("broker.key")),
            crl: crl)
    }
}
