import Foundation
import KlammerCrypto
import Synchronization
import KlammerProtocol
import Testing
@testable import KlammerClient
import KlammerTestSupport

/// The real `klammerd --dev` as a process, driven through KlammerClient and the `klammer` binary.
@Suite(.serialized) struct EndToEndTests {
    static let schwerin = "ags:13004000"
    static let rostock = "ags:13003000"
    static let ludwigslust = "ags:13076000"

    static func id(_ s: String) -> ParticipantID { try! ParticipantID(s) }

    /// Fetches everything waiting (bounded number of rounds).
    static func fetchAll(_ client: KlammerClient, options: ReceiveOptions = ReceiveOptions()) async throws -> [ReceivedMessage] {
        var messages: [ReceivedMessage] = []
        for _ in 0..<10 {
            var more = false
            for try await event in try await client.fetch(max: 50, options: options) {
                switch event {
                case .message(let m): messages.append(m)
                case .done(_, let moreAvailable): more = moreAvailable
                }
            }
            if !more { break }
        }
        return messages
    }

    @Test func offlineRecipientReceivesVerifiesAndAcknowledges() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        #expect(await sender.participantID == Self.id(Self.schwerin))
        let payload = Array("Bescheid vom 25.11.2026".utf8)
        let prepared = try PreparedMessage.prepare(
            credentials: sender.credentials, recipients: [Self.id(Self.rostock)],
            subject: "Anhörung § 28", contentType: "text/plain", payload: .bytes(payload))
        let accepted = try await sender.send(prepared)
        #expect(accepted.receipt.kind == .accepted)
        #expect(accepted.receipt.envelopeDigest == prepared.envelopeDigest)
        try await sender.verifyReceipt(accepted)

        // Rostock was not connected when the message was sent.
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let messages = try await Self.fetchAll(recipient)
        try #require(messages.count == 1)
        let message = messages[0]
        #expect(message.messageID == accepted.receipt.messageID)
        #expect(message.isVerified, "\(String(describing: message.verificationError))")
        #expect(message.payload == .bytes(payload))
        #expect(message.envelope == prepared.envelope)
        let acknowledged = try await recipient.acknowledge(message)
        #expect(acknowledged.receipt.kind == .acknowledged)
        #expect(acknowledged.receipt.recipient == Self.id(Self.rostock))
        try await recipient.verifyReceipt(acknowledged)
        #expect(try await Self.fetchAll(recipient).isEmpty)

        // The sender's routing slip shows the whole life of the message.
        let slip = try await sender.status(accepted.receipt.messageID)
        #expect(slip.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])
        let ack = try #require(slip.last?.acknowledgement)
        try CMS.verifyDetached(signature: ack.signature, content: ack.statement.canonicalBytes, signer: recipient.credentials.certificate)

        // Somebody else may not read it.
        let stranger = try await KlammerClient.connect(profile: daemon.profile(Self.ludwigslust))
        await #expect { try await stranger.status(accepted.receipt.messageID) } throws: { error in
            (error as? KlammerClientError)?.code == .unknownMessage
        }
        await stranger.close()
        await recipient.close()
        await sender.close()
    }

    @Test func fanOutDeduplicationAndRefusals() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let prepared = try PreparedMessage.prepare(
            credentials: sender.credentials, recipients: [Self.id(Self.rostock), Self.id(Self.ludwigslust)],
            subject: "Rundschreiben", payload: .bytes(Array(repeating: 0x41, count: 300_000)),
            clientMessageID: "rundschreiben-2026-11")
        let first = try await sender.send(prepared)
        // Retrying the same prepared message — here on a new connection — returns the original receipt, byte for byte.
        await sender.close()
        let retry = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let second = try await retry.send(prepared)
        #expect(second == first)
        // The same client message id for a different envelope is refused.
        let changed = try PreparedMessage.prepare(
            credentials: retry.credentials, recipients: [Self.id(Self.rostock)],
            payload: .bytes([1]), clientMessageID: "rundschreiben-2026-11")
        await #expect { try await retry.send(changed) } throws: { error in
            (error as? KlammerClientError)?.code == .invalidEnvelope
        }
        let unknown = try PreparedMessage.prepare(
            credentials: retry.credentials, recipients: [Self.id("ags:99999999")], payload: .bytes([1]))
        await #expect { try await retry.send(unknown) } throws: { error in
            (error as? KlammerClientError)?.code == .unknownRecipient
        }

        for recipientID in [Self.rostock, Self.ludwigslust] {
            let recipient = try await KlammerClient.connect(profile: daemon.profile(recipientID))
            let messages = try await Self.fetchAll(recipient)
            #expect(messages.count == 1, "\(recipientID) got \(messages.count) messages")
            if let message = messages.first {
                #expect(message.messageID == first.receipt.messageID)
                #expect(message.isVerified)
                _ = try await recipient.acknowledge(message)
            }
            await recipient.close()
        }
        let slip = try await retry.status(first.receipt.messageID)
        #expect(
            slip.filter { $0.receipt.kind == .acknowledged }.compactMap(\.receipt.recipient).sorted()
                == [Self.id(Self.ludwigslust), Self.id(Self.rostock)].sorted())
        await retry.close()
    }

    @Test func subscriptionPushesMessagesAndReceipts() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let subscription = try await recipient.subscribe(credits: 4)
        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let events = try await sender.subscribe(deliveries: false, receipts: true)
        let accepted = try await sender.send(to: [Self.id(Self.rostock)], subject: "live", payload: .bytes([1, 2, 3]))

        var iterator = subscription.messages.makeAsyncIterator()
        let message = try #require(try await iterator.next())
        #expect(message.messageID == accepted.receipt.messageID)
        #expect(message.isVerified)
        _ = try await recipient.acknowledge(message)

        // Bounded: if the acknowledged receipt never comes, closing the connection ends the stream.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            await sender.close()
        }
        defer { watchdog.cancel() }
        var kinds: [Receipt.Kind] = []
        for await receipt in events.receipts where receipt.receipt.messageID == accepted.receipt.messageID {
            kinds.append(receipt.receipt.kind)
            if receipt.receipt.kind == .acknowledged { break }
        }
        #expect(kinds.contains(.acknowledged))
        await sender.close()
        await recipient.close()
    }

    /// A confirmed message survives kill -9 of the broker: the recipient, offline until after the restart, gets it
    /// byte-identical, and the sender's routing slip still holds the `accepted` receipt it was given.
    @Test func confirmedMessageSurvivesABrokerKillAndReachesTheOfflineRecipient() async throws {
        let base = try TempDir()
        let data = base.file("dev")
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
        let accepted: SignedReceipt
        do {
            let daemon = try Daemon(dataDirectory: data)
            let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
            accepted = try await sender.send(to: [try ParticipantID(Self.rostock)], subject: "vor dem Absturz", payload: .bytes(payload))
            daemon.killHard()  // no graceful shutdown: only what was fsynced before the confirmation exists
            await sender.close()
        }
        let restarted = try Daemon(dataDirectory: data)
        let recipient = try await KlammerClient.connect(profile: restarted.profile(Self.rostock))
        var received: [ReceivedMessage] = []
        for try await event in try await recipient.fetch(max: 10) {
            if case .message(let message) = event { received.append(message) }
        }
        #expect(received.count == 1)
        let message = try #require(received.first)
        #expect(message.isVerified)
        #expect(message.stored.messageID == accepted.receipt.messageID)
        #expect(message.payload == .bytes(payload))
        _ = try await recipient.acknowledge(message)
        await recipient.close()
        let sender = try await KlammerClient.connect(profile: restarted.profile(Self.schwerin))
        let slip = try await sender.status(accepted.receipt.messageID)
        #expect(slip.first == accepted)
        #expect(slip.map(\.receipt.kind).contains(.acknowledged))
        await sender.close()
    }

    @Test func klammerCommandLineSendReceiveVerifyStatus() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("bescheid.pdf")
        let bytes = (0..<1_500_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }  // several chunks
        try Data(bytes).write(to: URL(fileURLWithPath: document))

        let send = try ProcessRunner.klammer(
            ["send", "--to", Self.rostock, "--subject", "Anhörung", "--content-type", "application/pdf", document],
            environment: daemon.environment(Self.schwerin))
        #expect(send.status == 0, "\(send.stderr)")
        let messageID = try #require(send.stdout.firstMatch(of: /message ([0-9a-f]{32})/)?.1).description
        #expect(send.stdout.contains("accepted"))

        // Profile file instead of environment variables.
        let profile = base.file("rostock.json")
        try
            #"{"cert": "\#(daemon.certPath(Self.rostock))", "key": "\#(daemon.keyPath(Self.rostock))", "ca": "\#(daemon.caPath)", "broker": "\#(daemon.broker)"}"#
            .write(toFile: profile, atomically: true, encoding: .utf8)
        let out = base.file("inbox")
        let receive = try ProcessRunner.klammer(["receive", "--profile", profile, "--out", out, "--ack"])
        #expect(receive.status == 0, "\(receive.stderr)")
        #expect(receive.stdout.contains("acknowledged"))
        let directory = (out as NSString).appendingPathComponent(messageID)
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/payload")) == Data(bytes))
        let receipts = try FileManager.default.contentsOfDirectory(atPath: directory + "/receipts").sorted().filter { $0.hasSuffix(".bin") }
        #expect(receipts.first == "01-accepted.bin")
        #expect(receipts.last?.hasSuffix("-acknowledged.bin") == true)
        // Every receipt verifies with openssl on its own: the broker's CMS over the canonical receipt, and for
        // `acknowledged` also the recipient's CMS over its statement.
        for receipt in receipts {
            let stem = directory + "/receipts/" + receipt.dropLast(".bin".count)
            let broker = try ProcessRunner.openssl([
                "cms", "-verify", "-binary", "-inform", "DER", "-in", stem + ".p7s",
                "-content", stem + ".receipt", "-certfile", directory + "/broker.pem",
                "-CAfile", daemon.caPath, "-purpose", "any", "-out", "/dev/null"
            ])
            #expect(broker.status == 0, "\(receipt): \(broker.stderr)")
        }
        let ackStem = directory + "/receipts/" + (receipts.last ?? "").dropLast(".bin".count)
        let recipientSignature = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", ackStem + ".recipient.p7s",
            "-content", ackStem + ".statement", "-certfile", daemon.certPath(Self.rostock),
            "-CAfile", daemon.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(recipientSignature.status == 0, "\(recipientSignature.stderr)")
        // A receipt whose bytes were changed does not verify.
        var forged = try Data(contentsOf: URL(fileURLWithPath: directory + "/receipts/01-accepted.receipt"))
        forged[forged.count - 3] ^= 0x01
        try forged.write(to: URL(fileURLWithPath: base.file("forged.receipt")))
        let refused = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/receipts/01-accepted.p7s",
            "-content", base.file("forged.receipt"), "-certfile", directory + "/broker.pem",
            "-CAfile", daemon.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(refused.status != 0)

        let verify = try ProcessRunner.klammer(["verify", "--ca", daemon.caPath, directory])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("signed by the broker: accepted"))
        #expect(verify.stdout.contains("acknowledged (\(Self.rostock))"))
        let openssl = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
            "-content", directory + "/envelope.bin", "-certfile", directory + "/sender.pem",
            "-CAfile", daemon.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")

        let status = try ProcessRunner.klammer([
            "status", "--cert", daemon.certPath(Self.schwerin), "--key", daemon.keyPath(Self.schwerin),
            "--ca", daemon.caPath, "--broker", daemon.broker, messageID
        ])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("acknowledged"))
        #expect(!status.stdout.contains("warning"))

        // Several files: one message each; --json prints the receipts.
        let second = base.file("anlage.txt")
        try "Anlage".write(toFile: second, atomically: true, encoding: .utf8)
        let json = try ProcessRunner.klammer(
            ["send", "--json", "--to", Self.rostock, "--to", Self.ludwigslust, document, second],
            environment: daemon.environment(Self.schwerin))
        #expect(json.status == 0, "\(json.stderr)")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(entries.allSatisfy { ($0["receipt"] as? [String: Any])?["kind"] as? String == "accepted" })
        let statusJSON = try ProcessRunner.klammer(["status", "--json", messageID], environment: daemon.environment(Self.rostock))
        #expect(statusJSON.status == 0, "\(statusJSON.stderr)")
        let slip = try #require(try JSONSerialization.jsonObject(with: Data(statusJSON.stdout.utf8)) as? [[String: Any]])
        #expect(slip.compactMap { ($0["receipt"] as? [String: Any])?["kind"] as? String } == ["accepted", "delivered", "acknowledged"])

        // Rostock's two new messages are waiting; the first receive fetched only the earlier one.
        let more = try ProcessRunner.klammer(["receive", "--ack", "--out", out], environment: daemon.environment(Self.rostock))
        #expect(more.status == 0, "\(more.stderr)")
        #expect(more.stdout.components(separatedBy: "received ").count == 3)

        // Nothing left; a second receive says so and succeeds.
        let again = try ProcessRunner.klammer(["receive", "--out", out], environment: daemon.environment(Self.rostock))
        #expect(again.status == 0)
        #expect(again.stderr.contains("no messages waiting"))
    }

    @Test func commandLineErrorsSayWhatToDo() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let file = base.file("x.txt")
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let unknown = try ProcessRunner.klammer(["send", "--to", "ags:99999999", file], environment: daemon.environment(Self.schwerin))
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("UNKNOWN_RECIPIENT"))
        #expect(unknown.stderr.contains("check the recipient id"))

        var noCA = daemon.environment(Self.schwerin)
        noCA["KLAMMER_CA"] = nil
        let missing = try ProcessRunner.klammer(["send", "--to", Self.rostock, file], environment: noCA)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("--ca"))

        let noBroker = try ProcessRunner.klammer(
            ["send", "--to", Self.rostock, "--broker", "127.0.0.1:1", file], environment: daemon.environment(Self.schwerin))
        #expect(noBroker.status == 1)
        #expect(noBroker.stderr.contains("is klammerd running"))

        // A certificate of the right CA that no participant owns: refused before WELCOME, not retried.
        let ca = try CertificateAuthority(
            certificate: try #require(Certificate.loadAll(fromPEMFile: daemon.caPath).first),
            key: try PrivateKey.load(fromFile: daemon.pki + "/ca.key"))
        let strangerKey = try PrivateKey.generate(.p256)
        let stranger = try ca.issue(
            commonName: "stranger", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:11111111"],
            publicKey: strangerKey.publicKey, usage: .client)
        try stranger.pemString.write(toFile: base.file("stranger.pem"), atomically: true, encoding: .utf8)
        try strangerKey.pkcs8PEM.write(toFile: base.file("stranger.key"), atomically: true, encoding: .utf8)
        let refused = try ProcessRunner.klammer([
            "send", "--cert", base.file("stranger.pem"), "--key", base.file("stranger.key"),
            "--ca", daemon.caPath, "--broker", daemon.broker, "--to", Self.rostock, file
        ])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not registered"))
        #expect(!refused.stderr.contains("retrying"))

        // The wrong CA bundle: our TLS layer refuses the broker.
        let otherPKI = try TestPKI()
        var wrongCA = daemon.environment(Self.schwerin)
        wrongCA["KLAMMER_CA"] = otherPKI.caPath
        let untrusted = try ProcessRunner.klammer(["send", "--to", Self.rostock, file], environment: wrongCA)
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("--ca"))

        let usage = try ProcessRunner.klammer(["send", file], environment: daemon.environment(Self.schwerin))
        #expect(usage.status == 64)
        #expect(usage.stderr.contains("--to"))
    }

    @Test func largePayloadStreamsThroughTheWindowIntoAFile() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("large.bin")
        // Larger than the broker's initial 4 MiB window: the upload needs WINDOW_UPDATEs.
        let bytes = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 ^ ($0 >> 9)) }
        try Data(bytes).write(to: URL(fileURLWithPath: document))
        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let progress = ProgressRecorder()
        let accepted = try await sender.send(
            to: [Self.id(Self.rostock)], payload: .file(document), progress: { sent, total in progress.record(sent, total) })
        #expect(progress.last?.0 == UInt64(bytes.count))
        #expect(progress.last?.1 == UInt64(bytes.count))
        await sender.close()

        let spool = base.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let messages = try await Self.fetchAll(recipient, options: ReceiveOptions(payloadStorage: .directory(spool)))
        try #require(messages.count == 1)
        #expect(messages[0].messageID == accepted.receipt.messageID)
        #expect(messages[0].isVerified)
        guard case .file(let path) = messages[0].payload else { Issue.record("payload not in a file"); return }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
        _ = try await recipient.acknowledge(messages[0])
        await recipient.close()
    }

    /// The retry takes the interrupted upload over (parked, or still held by the old connection) and succeeds with
    /// exactly the signed payload. The cut at 1 MiB may leave the broker with nothing stored (READY 0), so the resume
    /// offset itself is checked by LargeDocumentTests and ResumeTakeoverTests.
    @Test func interruptedUploadSucceedsOnRetry() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("akte.bin")
        let bytes = (0..<(8 << 20)).map { UInt8(truncatingIfNeeded: ($0 &* 2654435761) >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: document))
        let first = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let prepared = try PreparedMessage.prepare(
            credentials: first.credentials, recipients: [Self.id(Self.rostock)], payload: .file(document))
        // Drop the connection once 1 MiB went out (as a network failure would).
        let dropped = Mutex(false)
        await #expect(throws: KlammerClientError.self) {
            _ = try await first.send(
                prepared,
                progress: { sent, _ in
                    guard sent >= 1 << 20,
                        dropped.withLock({ d in
                            defer { d = true }; return !d
                        })
                    else { return }
                    Task { await first.failAll(KlammerClientError(.connectionFailed, "test: connection dropped")) }
                })
        }
        // The retry with the same prepared message (continuing where the broker's parked upload stopped, if it did).
        let retry = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let progress = ProgressRecorder()
        let receipt = try await retry.send(prepared, progress: { sent, total in progress.record(sent, total) })
        #expect(receipt.receipt.envelopeDigest == prepared.envelopeDigest)
        #expect(progress.last?.0 == UInt64(bytes.count))
        await retry.close()

        let spool = base.file("spool")
        try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
        let recipient = try await KlammerClient.connect(profile: daemon.profile(Self.rostock))
        let messages = try await Self.fetchAll(recipient, options: ReceiveOptions(payloadStorage: .directory(spool)))
        try #require(messages.count == 1)
        #expect(messages[0].isVerified)
        guard case .file(let path) = messages[0].payload else { Issue.record("payload not in a file"); return }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
        await recipient.close()
    }

    @Test func receiveFollowGetsMessagesSentLater() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let out = base.file("inbox")
        // `klammer receive --follow --max 1` waits for a pushed message; bounded by `timeout`.
        let receiver = Process()
        receiver.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        receiver.arguments = ["-k", "2", "30", ProcessRunner.binary("klammer"), "receive", "--follow", "--ack", "--max", "1", "--out", out]
        var environment = ProcessInfo.processInfo.environment
        environment.merge(daemon.environment(Self.rostock)) { $1 }
        receiver.environment = environment
        let output = Pipe()
        receiver.standardOutput = output
        receiver.standardError = FileHandle.nullDevice
        receiver.standardInput = FileHandle.nullDevice
        try receiver.run()

        let sender = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        // Wait (bounded) until the receiver's subscription is registered, then send.
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, !FileManager.default.fileExists(atPath: out + "/.spool") {
            try await Task.sleep(for: .milliseconds(20))
        }
        let accepted = try await sender.send(to: [Self.id(Self.rostock)], subject: "live", payload: .bytes(Array("jetzt".utf8)))
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        receiver.waitUntilExit()
        #expect(receiver.terminationStatus == 0)
        #expect(printed.contains(accepted.receipt.messageID.hex))
        #expect(printed.contains("acknowledged"))
        let slip = try await sender.status(accepted.receipt.messageID)
        #expect(slip.contains { $0.receipt.kind == .acknowledged })
        await sender.close()
    }
}

/// Records progress callbacks (called from the client actor).
final class ProgressRecorder: Sendable {
    private let values = Mutex<[(UInt64, UInt64)]>([])
    func record(_ sent: UInt64, _ total: UInt64) { values.withLock { $0.append((sent, total)) } }
    var last: (UInt64, UInt64)? { values.withLock { $0.last } }
    var count: Int { values.withLock { $0.count } }
    var first: (UInt64, UInt64)? { values.withLock { $0.first } }
}
