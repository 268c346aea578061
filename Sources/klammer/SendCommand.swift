import ArgumentParser
import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import Synchronization

/// `klammer send --to ID [--to ID…] [--subject S] FILE…`: one signed message per file.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Sign and send files (one message per file); prints the broker's accepted receipt.")

    @OptionGroup var profile: ProfileOptions

    @Option(name: .long, help: ArgumentHelp("Recipient participant id, e.g. ags:13003000 (repeat for several).", valueName: "ID"))
    var to: [String] = []

    @Option(name: .long, help: "Subject (UTF-8, signed as given).")
    var subject: String = ""

    @Option(name: .customLong("content-type"), help: "Media type of the payload.")
    var contentType: String = "application/octet-stream"

    @Option(
        name: .customLong("client-id"), help: ArgumentHelp("Client message id (de-duplication key; only with one file).", valueName: "ID"))
    var clientID: String?

    @Option(name: .long, help: ArgumentHelp("Time to live after acceptance.", valueName: "SECONDS"))
    var ttl: UInt32?

    @Option(name: .customLong("in-reply-to"), help: ArgumentHelp("Message id this message answers.", valueName: "MESSAGE_ID"))
    var inReplyTo: String?

    @Flag(
        name: .long,
        help: "Encrypt each file end to end for the recipients' directory certificates (CMS AES-256-GCM); the broker only sees ciphertext.")
    var encrypt = false

    @Flag(name: .long, help: "Print the receipts as JSON.")
    var json = false

    @Argument(help: ArgumentHelp("Files to send.", valueName: "FILE"))
    var files: [String]

    /// Connection attempts for one message on retryable failures (the same signed envelope is resent, so the
    /// broker de-duplicates).
    static let attempts = 3

    func validate() throws {
        guard !to.isEmpty else { throw ValidationError("give at least one recipient with --to ID (e.g. --to ags:13003000)") }
        guard !files.isEmpty else { throw ValidationError("give at least one FILE to send") }
        if clientID != nil, files.count > 1 { throw ValidationError("--client-id needs exactly one FILE (each message needs its own id)") }
    }

    func run() async throws {
        let resolved = try profile.resolve()
        let credentials = try ClientCredentials.load(resolved)
        let recipients: [ParticipantID]
        do { recipients = try to.map { try ParticipantID($0) } } catch {
            throw KlammerClientError(.invalidArgument, "invalid recipient id (\(error)); ids look like ags:13003000")
        }
        let replyTo: MessageID?
        if let inReplyTo {
            guard let id = MessageID(hex: inReplyTo) else {
                throw KlammerClientError(.invalidArgument, "--in-reply-to must be a message id of 32 hex digits")
            }
            replyTo = id
        } else {
            replyTo = nil
        }
        var client: KlammerClient? = nil
        // --encrypt: look every recipient up in the broker's signed directory, encrypt each file into a private
        // temporary directory (removed at the end), and sign and send the ciphertext.
        var payloads = files
        var encryptedDirectory: String? = nil
        defer { if let encryptedDirectory { try? FileManager.default.removeItem(atPath: encryptedDirectory) } }
        if encrypt {
            let lookup = try await profile.connect()
            client = lookup
            var entries: [DirectoryEntry] = []
            do {
                for recipient in recipients { entries.append(try await lookup.directory(for: recipient)) }
            } catch {
                await lookup.close()
                throw error
            }
            for entry in entries {
                for dropped in entry.droppedCertificates {
                    FileHandle.standardError.write(
                        Data(
                            "klammer: not encrypting to \(entry.participant) certificate \(dropped.certificate.fingerprint.hex): \(dropped.reason)\n"
                                .utf8))
                }
            }
            let certificates = try EncryptedPayload.recipientCertificates(entries)
            let directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("klammer-encrypt-\(UUID().uuidString)")
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                await lookup.close()
                throw KlammerClientError(.fileError, "cannot create a temporary directory for the encrypted payloads: \(error)")
            }
            encryptedDirectory = directory
            payloads = []
            for (index, file) in files.enumerated() {
                let target = (directory as NSString).appendingPathComponent("\(index).cms")
                try EncryptedPayload.encrypt(file: file, to: target, recipients: certificates)
                payloads.append(target)
            }
        }
        var prepared: [(file: String, message: PreparedMessage)] = []
        for (file, payload) in zip(files, payloads) {
            prepared.append(
                (
                    file,
                    try PreparedMessage.prepare(
                        credentials: credentials, recipients: recipients, subject: subject,
                        contentType: encrypt ? EncryptedPayload.contentType : contentType,
                        payload: .file(payload), clientMessageID: clientID, timeToLiveSeconds: ttl, inReplyTo: replyTo)
                ))
        }
        // Several files: one CMS over the batch root (SPEC.md §5.5/§5.6), each message carries its Merkle proof.
        if prepared.count > 1 {
            let batch = try PreparedMessage.signBatches(prepared.map(\.message), credentials: credentials, maxBatchSize: 256)
            prepared = zip(prepared, batch).map { ($0.file, $1) }
        }
        var results: [SignedReceipt] = []
        for (file, message) in prepared {
            var attempt = 1
            while true {
                do {
                    if client == nil { client = try await profile.connect() }
                    let progress = ProgressLine(label: (file as NSString).lastPathComponent, total: message.envelope.payloadLength)
                    let resumed = ResumeNotice(file: file)
                    // The first report is the broker's READY offset: > 0 means it kept what the cut attempt sent.
                    let report: KlammerClient.Progress = { sent, total in
                        resumed.first(sent, total)
                        progress?.update(sent)
                    }
                    let receipt = try await client!.send(message, progress: report)
                    progress?.finish()
                    results.append(receipt)
                    if !json { print(Self.summary(receipt, file: file, envelope: message.envelope)) }
                    break
                } catch {
                    let retryable = error.isRetryable  // the do block throws KlammerClientError only
                    guard retryable, attempt < Self.attempts else {
                        await client?.close()
                        if let rejected = error.rejectedReceipt {
                            try Self.reportRejection(error, receipt: rejected, file: file, accepted: results, json: json)
                        }
                        throw error
                    }
                    FileHandle.standardError.write(Data("klammer: \(file): \(error); retrying (\(attempt + 1)/\(Self.attempts))\n".utf8))
                    await client?.close()
                    client = nil
                    try await Task.sleep(for: .milliseconds(500 * attempt))
                    attempt += 1
                }
            }
        }
        await client?.close()
        if json {
            let data = try MessageDirectory.receiptsJSON(results)
            print(String(decoding: data, as: UTF8.self))
        }
    }

    /// A refused submission with the broker's signed `rejected` receipt (SPEC.md §7.1): with `--json` one object on
    /// stdout (`error`, `file`, `rejected_receipt` fields, `rejected_receipt_container` = base64 of the signed
    /// container, verifiable with the broker certificate, and the receipts of messages accepted before); otherwise
    /// a line on stderr. The error itself still goes to stderr and the exit status is non-zero.
    static func reportRejection(
        _ error: KlammerClientError, receipt: SignedReceipt, file: String,
        accepted: [SignedReceipt], json: Bool
    ) throws {
        guard json else {
            let r = receipt.receipt
            FileHandle.standardError.write(
                Data(
                    "klammer: \(file): the broker signed a rejected receipt (reason \(r.reason?.name ?? "-"), envelope sha256 \(r.envelopeDigest.hex)\(r.recipient.map { ", recipient \($0)" } ?? ""))\n"
                        .utf8))
            return
        }
        struct ErrorJSON: Encodable { var code: UInt16?; var name: String; var message: String }
        struct Rejection: Encodable {
            var error: ErrorJSON
            var file: String
            var rejectedReceipt: Receipt
            var rejectedReceiptContainer: String
            var accepted: [Receipt]
            enum CodingKeys: String, CodingKey {
                case error, file, accepted
                case rejectedReceipt = "rejected_receipt"
                case rejectedReceiptContainer = "rejected_receipt_container"
            }
        }
        let value = Rejection(
            error: .init(code: error.code?.rawValue, name: error.name, message: error.message), file: file,
            rejectedReceipt: receipt.receipt,
            rejectedReceiptContainer: Data(receipt.encodedBytes).base64EncodedString(),
            accepted: accepted.map(\.receipt))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func summary(_ receipt: SignedReceipt, file: String, envelope: Envelope) -> String {
        let r = receipt.receipt
        return
            "accepted \(file): message \(r.messageID) to \(envelope.recipients.map(\.rawValue).joined(separator: ", ")) at \(Timestamp.iso(r.timestampMillis)) (client id \(envelope.clientMessageID), envelope sha256 \(r.envelopeDigest.hex), broker \(r.brokerID))"
    }
}

/// Tells once per attempt that an upload continues where a cut attempt stopped (SPEC.md §4.8).
final class ResumeNotice: Sendable {
    private let file: String
    private let seen = Mutex(false)
    init(file: String) { self.file = file }

    func first(_ offset: UInt64, _ total: UInt64) {
        guard
            seen.withLock({ s in
                defer { s = true }; return !s
            }), offset > 0
        else { return }
        FileHandle.standardError.write(Data("klammer: \(file): the broker kept \(offset) of \(total) bytes; resuming from there\n".utf8))
    }
}

/// Formats milliseconds as ISO 8601 UTC.
enum Timestamp {
    static func iso(_ millis: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }
}
