import ArgumentParser
import Foundation
import KlammerClient
import KlammerProtocol

/// `klammer receive --out DIR [--follow] [--ack]`: each message into its own directory (SPEC.md §5.10).
struct ReceiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Fetch waiting messages into DIR/<message id>/ (payload, signed envelope, signature, sender certificate, receipts).")

    @OptionGroup var profile: ProfileOptions

    @Option(name: .long, help: ArgumentHelp("Directory for received messages (created if missing).", valueName: "DIR"))
    var out: String

    @Flag(name: .long, help: "Keep running and receive messages as they arrive (Ctrl-C to stop).")
    var follow = false

    @Flag(name: .long, help: "Acknowledge each message after it verified and was written (signs an acknowledgement).")
    var ack = false

    @Option(name: .long, help: "Stop after this many messages (0 = no limit).")
    var max: Int = 0

    func run() async throws {
        _ = try profile.resolve()  // profile errors before any file is created
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw KlammerClientError(.fileError, "cannot create the output directory \(out): \(error)")
        }
        let spool = (out as NSString).appendingPathComponent(".spool")
        try? FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let display = ReceiveProgress()
        let options = ReceiveOptions(
            payloadStorage: .directory(spool),
            progress: { id, received, total in
                display.update(id, received, total)
            })
        var counts = Counts()
        if follow {
            try await follow(options: options, counts: &counts)
        } else {
            let client = try await profile.connect()
            do {
                try await fetchAll(client: client, options: options, counts: &counts)
            } catch {
                await client.close()
                throw error
            }
            await client.close()
            if counts.handled == 0 { FileHandle.standardError.write(Data("klammer: no messages waiting\n".utf8)) }
        }
        if counts.rejected > 0 {
            throw KlammerClientError(
                .verificationFailed, "\(counts.rejected) message(s) did not verify and were not acknowledged; see the lines above")
        }
    }

    struct Counts {
        var handled = 0
        var rejected = 0
    }

    /// Longest wait between reconnection attempts in --follow mode.
    static let maxBackoffSeconds = 30

    /// Pulls everything waiting (or up to --max).
    /// A download that a cut connection left half done in the spool directory is resumed first (SPEC.md §4.8).
    func fetchAll(client: KlammerClient, options: ReceiveOptions, counts: inout Counts) async throws {
        var resume = spoolResumePoint(options)
        while true {
            let batch = max > 0 ? Swift.min(100, max - counts.handled) : 100
            if batch <= 0 { return }
            var more = false
            if let resume {
                FileHandle.standardError.write(Data("klammer: resuming message \(resume.messageID) at byte \(resume.offset)\n".utf8))
            }
            let events = try await client.fetch(max: batch, options: options, resume: resume)
            resume = nil
            for try await event in events {
                switch event {
                case .message(let message):
                    if try await handle(message, client: client) == false { counts.rejected += 1 }
                    counts.handled += 1
                case .done(_, let moreAvailable):
                    more = moreAvailable
                }
            }
            if !more { return }
        }
    }

    /// Subscribes and handles pushed messages; a lost connection (broker restart, GOAWAY, network) is re-established
    /// with back-off — unacknowledged messages are simply delivered again.
    func follow(options: ReceiveOptions, counts: inout Counts) async throws {
        var backoff = 1
        while true {
            var client: KlammerClient? = nil
            do {
                let connected = try await profile.connect()
                client = connected
                backoff = 1
                // Finish a download the last connection left half done before new messages are pushed.
                if spoolResumePoint(options) != nil {
                    var first = Counts()
                    try await fetchAll(client: connected, options: options, counts: &first)
                    counts.handled += first.handled
                    counts.rejected += first.rejected
                }
                let subscription = try await connected.subscribe(credits: 16, options: options)
                for try await message in subscription.messages {
                    if try await handle(message, client: connected) == false { counts.rejected += 1 }
                    counts.handled += 1
                    if max > 0, counts.handled >= max {
                        await connected.close()
                        return
                    }
                }
                await connected.close()
            } catch {
                await client?.close()
                guard (error as? KlammerClientError)?.isRetryable == true else { throw error }
                FileHandle.standardError.write(Data("klammer: \(error); reconnecting in \(backoff) s\n".utf8))
            }
            try await Task.sleep(for: .seconds(backoff))
            backoff = Swift.min(backoff * 2, Self.maxBackoffSeconds)
        }
    }

    func spoolResumePoint(_ options: ReceiveOptions) -> Frame.ResumePoint? {
        guard case .directory(let spool) = options.payloadStorage else { return nil }
        return ReceiveOptions.resumePoint(in: spool)
    }

    /// Stores durably, decrypts, acknowledges (after every fsync), records receipts. Returns false if the message did
    /// not verify or could not be decrypted.
    func handle(_ message: ReceivedMessage, client: KlammerClient) async throws -> Bool {
        let outcome = try await MessageIntake(outDirectory: out, acknowledge: ack).handle(message, client: client)
        let directory = outcome.placement.directory
        var note = ""
        if let error = outcome.verificationError {
            FileHandle.standardError.write(
                Data(
                    "klammer: message \(message.messageID) from \(message.envelope.sender) did NOT verify and was not acknowledged: \(error.message)\n"
                        .utf8))
            note = " NOT VERIFIED"
        } else if let decryptionError = outcome.decryptionError {
            FileHandle.standardError.write(
                Data(
                    "klammer: message \(message.messageID) from \(message.envelope.sender) could NOT be decrypted and was not acknowledged: \(decryptionError.message)\n"
                        .utf8))
            note = " NOT DECRYPTED"
        } else if outcome.acknowledged {
            note = " acknowledged"
        } else {
            note = " verified"
        }
        if outcome.placement.keptEarlierCopy { note += " (earlier copy kept)" }
        let e = message.envelope
        let encrypted = outcome.decrypted ? " decrypted" : ""
        print(
            "received \(message.messageID) from \(e.sender) subject \"\(TerminalText.escape(e.subject))\" (\(e.payloadLength) bytes, \(TerminalText.escape(e.contentType))) -> \(directory)\(encrypted)\(note)"
        )
        return outcome.isGood
    }
}
