import ArgumentParser
import Foundation
import KlammerClient
import KlammerProtocol

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

    @Option(name: .customLong("client-id"), help: ArgumentHelp("Client message id (de-duplication key; only with one file).", valueName: "ID"))
    var clientID: String?

    @Option(name: .long, help: ArgumentHelp("Time to live after acceptance.", valueName: "SECONDS"))
    var ttl: UInt32?

    @Option(name: .customLong("in-reply-to"), help: ArgumentHelp("Message id this message answers.", valueName: "MESSAGE_ID"))
    var inReplyTo: String?

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
        var prepared: [(file: String, message: PreparedMessage)] = []
        for file in files {
            prepared.append((file, try PreparedMessage.prepare(
                credentials: credentials, recipients: recipients, subject: subject, contentType: contentType,
                payload: .file(file), clientMessageID: clientID, timeToLiveSeconds: ttl, inReplyTo: replyTo)))
        }
        // Several files: one CMS over the batch root (SPEC.md §5.5/§5.6), each message carries its Merkle proof.
        if prepared.count > 1 {
            let batch = try PreparedMessage.signBatches(prepared.map(\.message), credentials: credentials, maxBatchSize: 256)
            prepared = zip(prepared, batch).map { ($0.file, $1) }
        }
        var client: KlammerClient? = nil
        var results: [SignedReceipt] = []
        for (file, message) in prepared {
            var attempt = 1
            while true {
                do {
                    if client == nil { client = try await profile.connect() }
                    let progress = ProgressLine(label: (file as NSString).lastPathComponent, total: message.envelope.payloadLength)
                    var report: KlammerClient.Progress? = nil
                    if let progress { report = { sent, _ in progress.update(sent) } }
                    let receipt = try await client!.send(message, progress: report)
                    progress?.finish()
                    results.append(receipt)
                    if !json { print(Self.summary(receipt, file: file, envelope: message.envelope)) }
                    break
                } catch {
                    let retryable = error.isRetryable  // the do block throws KlammerClientError only
                    guard retryable, attempt < Self.attempts else {
                        await client?.close()
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

    static func summary(_ receipt: SignedReceipt, file: String, envelope: Envelope) -> String {
        let r = receipt.receipt
        return "accepted \(file): message \(r.messageID) to \(envelope.recipients.map(\.rawValue).joined(separator: ", ")) at \(Timestamp.iso(r.timestampMillis)) (client id \(envelope.clientMessageID), envelope sha256 \(r.envelopeDigest.hex), broker \(r.brokerID))"
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
