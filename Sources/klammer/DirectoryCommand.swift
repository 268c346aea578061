import ArgumentParser
import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol

/// `klammer directory PARTICIPANT_ID`: a participant's encryption certificates from the broker's signed directory.
struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Look up a participant's encryption certificates (broker-signed, SPEC.md §5.11).")

    @OptionGroup var profile: ProfileOptions

    @Flag(name: .long, help: "Print the answer as JSON.")
    var json = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write each certificate as DIR/<fingerprint>.pem, the statement as DIR/directory.bin and the broker's signature as DIR/directory.p7s.",
            valueName: "DIR"))
    var out: String?

    @Argument(help: ArgumentHelp("Participant id, e.g. ags:13004000.", valueName: "PARTICIPANT_ID"))
    var participant: String

    struct CertificateJSON: Encodable {
        let fingerprint: String
        let subject: String
        let serialNumber: String
        let keyType: String
        let notAfter: String
    }

    struct AnswerJSON: Encodable {
        let participant: String
        let broker: String
        let issuedAtMillis: UInt64
        let issuedAt: String
        let validUntilMillis: UInt64
        let validUntil: String
        let certificates: [CertificateJSON]
    }

    func run() async throws {
        let id: ParticipantID
        do { id = try ParticipantID(participant) } catch {
            throw KlammerClientError(.invalidArgument, "\(participant) is not a participant id (scheme:value, e.g. ags:13004000)")
        }
        let client = try await profile.connect()
        let entry: DirectoryEntry
        do { entry = try await client.directory(for: id) } catch {
            await client.close()
            throw error
        }
        await client.close()
        if let out {
            try write(entry, to: out)
        }
        let statement = entry.statement
        if json {
            let answer = AnswerJSON(
                participant: statement.participant.description, broker: statement.broker.description,
                issuedAtMillis: statement.issuedAtMillis, issuedAt: Timestamp.iso(statement.issuedAtMillis),
                validUntilMillis: statement.validUntilMillis, validUntil: Timestamp.iso(statement.validUntilMillis),
                certificates: entry.certificates.map {
                    CertificateJSON(
                        fingerprint: $0.fingerprint.hex, subject: $0.subject, serialNumber: $0.serialNumberHex,
                        keyType: $0.publicKey.kind.description,
                        notAfter: Timestamp.iso(UInt64(max(0, $0.notAfter.timeIntervalSince1970 * 1000))))
                })
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(answer), as: UTF8.self))
            return
        }
        print("participant \(statement.participant)  (signed by \(statement.broker), verified)")
        print("  issued at   \(Timestamp.iso(statement.issuedAtMillis))")
        print("  valid until \(Timestamp.iso(statement.validUntilMillis))")
        if entry.certificates.isEmpty {
            print("  no encryption certificates (the participant is suspended, revoked or has no valid certificate)")
        }
        for certificate in entry.certificates {
            print("  certificate \(certificate.fingerprint.hex)")
            print("    subject   \(certificate.subject)")
            print("    serial    \(certificate.serialNumberHex)  key \(certificate.publicKey.kind)")
            print("    not after \(Timestamp.iso(UInt64(max(0, certificate.notAfter.timeIntervalSince1970 * 1000))))")
        }
        for dropped in entry.droppedCertificates {
            print("  not used    \(dropped.certificate.fingerprint.hex): \(dropped.reason)")
        }
    }

    private func write(_ entry: DirectoryEntry, to directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for certificate in entry.certificates {
                let path = (directory as NSString).appendingPathComponent("\(certificate.fingerprint.hex).pem")
                try Data(certificate.pemString.utf8).write(to: URL(fileURLWithPath: path))
            }
            try Data(entry.statement.canonicalBytes).write(
                to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("directory.bin")))
            try Data(entry.brokerSignature).write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("directory.p7s")))
        } catch {
            throw KlammerClientError(.fileError, "cannot write the directory answer to \(directory): \(error.localizedDescription)")
        }
    }
}
