import Foundation
import Testing
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

/// Expects a refusal with `code`, and that nothing was stored.
func expectRefusal(
    _ code: ErrorCode, _ fixture: BrokerFixture, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async throws {
    do {
        try await body()
        Issue.record("expected refusal \(code), but it was accepted", sourceLocation: sourceLocation)
    } catch let error as ProtocolError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    }
    #expect(try fixture.storeIsEmpty(), "a refused submission left something in the store", sourceLocation: sourceLocation)
}

@Suite(.timeLimit(.minutes(2))) struct BrokerSendTests {
    @Test func acceptedReceiptIsSignedAndDurable() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(5000)
        let envelope = try f.envelope(payload: payload)
        let receipt = try await f.send(envelope, payload: payload)
        #expect(receipt.receipt.kind == .accepted)
        #expect(receipt.receipt.sender == envelope.sender)
        #expect(receipt.receipt.brokerID.rawValue == "broker:klammer-1")
        #expect(receipt.receipt.envelopeDigest.bytes == SHA256.hash(envelope.canonicalBytes))
        try f.verifyBrokerSignature(receipt)
        let queued = try f.store.browse(recipient: BrokerFixture.b)
        #expect(queued.count == 1)
    }

    @Test func impersonation() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        // The envelope says ags:09162000 sent it (and that party signed it), but the connection is the sender's.
        let envelope = try f.envelope(from: BrokerFixture.b, to: [BrokerFixture.c], payload: payload)
        try await expectRefusal(.impersonation, f) {
            _ = try await f.send(envelope, payload: payload, as: BrokerFixture.sender)
        }
    }

    @Test func unknownRecipient() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(to: [BrokerFixture.b, "ags:99999999"], payload: payload)
        try await expectRefusal(.unknownRecipient, f) { _ = try await f.send(envelope, payload: payload) }
    }

    @Test func suspendedRecipientIsRefused() async throws {
        let f = try await BrokerFixture()
        _ = try f.registry.setStatus(.suspended, of: BrokerFixture.c)
        let payload = payloadBytes(10)
        let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload)
        try await expectRefusal(.unknownRecipient, f) { _ = try await f.send(envelope, payload: payload) }
    }

    @Test(arguments: [
        (Participant.Status.suspended, ErrorCode.participantSuspended),
        (Participant.Status.revoked, ErrorCode.participantRevoked)
    ])
    func inactiveSender(status: Participant.Status, code: ErrorCode) async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        _ = try f.registry.setStatus(status, of: BrokerFixture.sender)
        try await expectRefusal(code, f) { _ = try await f.send(envelope, payload: payload) }
    }

    @Test func senderSuspendedWhileUploading() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let submission = try f.begin(envelope)
        try submission.append(payload)
        _ = try f.registry.setStatus(.suspended, of: BrokerFixture.sender)
        try await expectRefusal(.participantSuspended, f) {
            _ = try await f.broker.finishSubmission(submission, signature: f.sign(envelope.canonicalBytes, by: BrokerFixture.sender))
        }
    }

    @Test func routingPolicyRefusal() async throws {
        let f = try await BrokerFixture()
        _ = try f.registry.setPolicy(try RoutingPolicy(allow: ["ags:09*"]), of: BrokerFixture.sender)
        let payload = payloadBytes(10)
        let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload)
        try await expectRefusal(.notPermitted, f) { _ = try await f.send(envelope, payload: payload) }
        // ags:09162000 alone is allowed.
        _ = try await f.send(try f.envelope(to: [BrokerFixture.b], payload: payload, clientID: "ok-1"), payload: payload)
    }

    @Test func forgedSignatureByAnotherKey() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        // A self-made certificate with the registered certificate's issuer name is impossible to get from the CA, so
        // forge with the correct identity but a different key: another CA with the same name and a copied serial.
        let otherCA = try CertificateAuthority.create(commonName: "Broker Test CA")
        let forgerKey = try PrivateKey.generate(.p256)
        let registered = f.party(BrokerFixture.sender).certificate
        let serial = try #require(hexBytes(registered.serialNumberHex))
        let forgedCert = try otherCA.issue(
            commonName: BrokerFixture.sender, publicKey: forgerKey.publicKey, usage: .client,
            serialNumber: serial)
        #expect(forgedCert.issuer == registered.issuer && forgedCert.serialNumberHex == registered.serialNumberHex)
        let forged = try CMS.signDetached(envelope.canonicalBytes, certificate: forgedCert, key: forgerKey)
        try await expectRefusal(.signatureInvalid, f) { _ = try await f.send(envelope, payload: payload, signature: forged) }
    }

    @Test func signatureByAnotherParticipant() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let other = try f.sign(envelope.canonicalBytes, by: BrokerFixture.b)
        try await expectRefusal(.certificateNotRegistered, f) { _ = try await f.send(envelope, payload: payload, signature: other) }
    }

    @Test func signatureByUnregisteredCertificateOfSameCA() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let key = try PrivateKey.generate(.p256)
        let cert = try f.ca.issue(
            commonName: BrokerFixture.sender,
            subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.sender)"],
            publicKey: key.publicKey, usage: .client)
        let signature = try CMS.signDetached(envelope.canonicalBytes, certificate: cert, key: key)
        try await expectRefusal(.certificateNotRegistered, f) { _ = try await f.send(envelope, payload: payload, signature: signature) }
    }

    @Test func garbageSignature() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        try await expectRefusal(.signatureInvalid, f) {
            _ = try await f.send(envelope, payload: payload, signature: [0x30, 0x03, 0x02, 0x01, 0x01])
        }
    }

    @Test func signatureOverOtherBytes() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let other = try f.envelope(payload: payload, clientID: "other")
        let signature = try f.sign(other.canonicalBytes, by: BrokerFixture.sender)
        try await expectRefusal(.signatureInvalid, f) { _ = try await f.send(envelope, payload: payload, signature: signature) }
    }

    @Test func missingSignature() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        try await expectRefusal(.signatureMissing, f) { _ = try await f.send(envelope, payload: payload, signature: []) }
    }

    @Test(arguments: [100, 200_000])
    func payloadSwappedAfterSigning(size: Int) async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(size)
        let envelope = try f.envelope(payload: payload)
        let swapped = payloadBytes(size, seed: 99)
        try await expectRefusal(.digestMismatch, f) { _ = try await f.send(envelope, payload: swapped) }
    }

    @Test func payloadLongerOrShorterThanDeclared() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let envelope = try f.envelope(payload: payload)
        try await expectRefusal(.lengthMismatch, f) { _ = try await f.send(envelope, payload: payload + [1]) }
        try await expectRefusal(.lengthMismatch, f) { _ = try await f.send(envelope, payload: Array(payload.dropLast())) }
    }

    @Test func tooManyRecipients() async throws {
        var limits = ProtocolLimits.default
        limits.maxRecipients = 2
        let f = try await BrokerFixture(limits: limits)
        let payload = payloadBytes(10)
        let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c, BrokerFixture.d], payload: payload)
        try await expectRefusal(.tooManyRecipients, f) { _ = try await f.send(envelope, payload: payload) }
    }

    @Test func oversizePayload() async throws {
        var limits = ProtocolLimits.default
        limits.maxMessageSize = 4096
        let f = try await BrokerFixture(limits: limits)
        let payload = payloadBytes(4097)
        let envelope = try f.envelope(payload: payload)
        try await expectRefusal(.messageTooLarge, f) { _ = try await f.send(envelope, payload: payload) }
    }

    @Test func malformedEnvelope() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        var bytes = envelope.canonicalBytes
        bytes[0] ^= 0xFF
        await #expect(throws: ProtocolError.self) { _ = try await f.send(envelope, payload: payload, envelopeBytes: bytes) }
        await #expect(throws: ProtocolError.self) {
            _ = try await f.send(envelope, payload: payload, envelopeBytes: envelope.canonicalBytes + [0])
        }
        #expect(try f.storeIsEmpty())
    }

    @Test func duplicateReturnsByteIdenticalReceiptAlsoAfterRestart() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(3000)
        let envelope = try f.envelope(payload: payload)
        let first = try await f.send(envelope, payload: payload)
        let again = try await f.send(envelope, payload: payload)
        #expect(again.encodedBytes == first.encodedBytes)
        try await f.restart()
        let afterRestart = try await f.send(envelope, payload: payload)
        #expect(afterRestart.encodedBytes == first.encodedBytes)
        #expect(try f.store.browse(recipient: BrokerFixture.b).count == 1)
        // Same client message id, different envelope: refused.
        let changed = try f.envelope(to: [BrokerFixture.c], payload: payload)
        await #expect { _ = try await f.send(changed, payload: payload) } throws: { ($0 as? ProtocolError)?.code == .invalidEnvelope }
        #expect(try f.store.browse(recipient: BrokerFixture.c).isEmpty)
    }

    @Test func duplicateSendBeginIsAnsweredWithoutUpload() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let first = try await f.send(envelope, payload: payload)
        try await f.restart()
        let start = try f.broker.beginSubmission(from: f.participant(BrokerFixture.sender), envelopeBytes: envelope.canonicalBytes)
        guard case .duplicate(let original) = start else { Issue.record("expected a duplicate"); return }
        #expect(original.encodedBytes == first.encodedBytes)
        // After the dedupe window the slip no longer answers, and the envelope is older than `maxEnvelopeAge` (by
        // default the dedupe window): the replayed signed envelope is refused, not accepted as a new message (§7.1 5a).
        f.clock.advance(8 * 24 * 3600)
        #expect {
            try f.broker.beginSubmission(from: f.participant(BrokerFixture.sender), envelopeBytes: envelope.canonicalBytes)
        } throws: { ($0 as? ProtocolError)?.code == .timeOutOfRange }
    }

    @Test func chunkOffsetAndSignatureForm() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let envelope = try f.envelope(payload: payload)
        let submission = try f.begin(envelope, form: .batch)
        #expect { try submission.append(payload, at: 5) } throws: { ($0 as? ProtocolError)?.code == .chunkOffsetMismatch }
        try submission.append(Array(payload[0..<50]), at: 0)
        try submission.append(Array(payload[50...]), at: 50)
        try await expectRefusal(.signatureFormMismatch, f) {
            _ = try await f.broker.finishSubmission(submission, signature: f.sign(envelope.canonicalBytes, by: BrokerFixture.sender))
        }
    }

    @Test func fanOutStoresPayloadOnce() async throws {
        let f = try await BrokerFixture(maxInline: 1024)
        let payload = payloadBytes(50_000)
        let recipients = [BrokerFixture.b, BrokerFixture.c, BrokerFixture.d]
        let envelope = try f.envelope(to: recipients, payload: payload)
        let receipt = try await f.send(envelope, payload: payload)
        #expect(f.finishedBlobCount() == 1)
        var refs: Set<BlobReference> = []
        for r in recipients {
            let deliveries = try await f.broker.lease(for: f.participant(r), consumer: ConsumerID("c-\(r)"), max: 10)
            #expect(deliveries.count == 1)
            let d = try #require(deliveries.first)
            #expect(d.messageID == receipt.receipt.messageID)
            guard case .blob(let ref) = d.payload else { Issue.record("expected a blob payload"); continue }
            refs.insert(ref)
            let reader = try f.broker.openPayload(ref)
            var read: [UInt8] = []
            while let chunk = try reader.next() { read += chunk }
            #expect(read == payload)
        }
        #expect(refs.count == 1)
    }

    @Test func acceptedReceiptVerifiesWithOpenSSL() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let receipt = try await f.send(try f.envelope(payload: payload), payload: payload)
        try Data(receipt.brokerSignature).write(to: URL(fileURLWithPath: f.dir.file("r.p7s")))
        try Data(receipt.receipt.canonicalBytes).write(to: URL(fileURLWithPath: f.dir.file("r.bin")))
        try f.brokerCertificate.pemString.write(toFile: f.dir.file("broker.pem"), atomically: true, encoding: .utf8)
        try f.ca.certificate.pemString.write(toFile: f.dir.file("ca.pem"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = [
            "30", "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", f.dir.file("r.p7s"),
            "-content", f.dir.file("r.bin"), "-certfile", f.dir.file("broker.pem"),
            "-CAfile", f.dir.file("ca.pem"), "-purpose", "any", "-out", "/dev/null"
        ]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "openssl cms -verify failed: \(stderr)")
    }
}

func hexBytes(_ hex: String) -> [UInt8]? {
    let chars = Array(hex.count % 2 == 0 ? hex : "0" + hex)
    var out: [UInt8] = []
    for i in stride(from: 0, to: chars.count, by: 2) {
        guard let b = UInt8(String(chars[i...i + 1]), radix: 16) else { return nil }
        out.append(b)
    }
    return out
}

@Suite(.timeLimit(.minutes(2))) struct BrokerConcurrencyTests {
    @Test func parallelSendersGetDistinctDurableMessages() async throws {
        let f = try await BrokerFixture()
        let broker = f.broker
        let sender = f.participant(BrokerFixture.sender)
        var jobs: [(Envelope, [UInt8], [UInt8])] = []
        for i in 0..<24 {
            let payload = payloadBytes(500 + i, seed: UInt8(i))
            let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload, clientID: "par-\(i)")
            jobs.append((envelope, payload, try f.sign(envelope.canonicalBytes, by: BrokerFixture.sender)))
        }
        let receipts = try await withThrowingTaskGroup(of: SignedReceipt.self) { group in
            for (envelope, payload, signature) in jobs {
                group.addTask {
                    guard let submission = try broker.beginSubmission(from: sender, envelopeBytes: envelope.canonicalBytes).submission
                    else {
                        throw ProtocolError(.duplicate, "unexpected duplicate")
                    }
                    try submission.append(payload, at: 0)
                    return try await broker.finishSubmission(submission, signature: signature)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(receipts.map(\.receipt.messageID)).count == 24)
        #expect(try f.store.browse(recipient: BrokerFixture.c).count == 24)
        try await f.restart()
        for r in receipts {
            #expect(try f.broker.routingSlip(of: r.receipt.messageID, requester: f.party(BrokerFixture.b).id).count == 1)
        }
    }
}

extension BrokerConcurrencyTests {
    @Test func concurrentUploadsOfSameMessageStoreOneBlob() async throws {
        let f = try await BrokerFixture(maxInline: 1024)
        let payload = payloadBytes(20_000)
        let envelope = try f.envelope(payload: payload)
        let signature = try f.sign(envelope.canonicalBytes, by: BrokerFixture.sender)
        // Both uploads start before either finished (a client retrying on a second connection).
        let first = try f.begin(envelope)
        let second = try f.begin(envelope)
        try first.append(payload, at: 0)
        try second.append(payload, at: 0)
        let a = try await f.broker.finishSubmission(first, signature: signature)
        let b = try await f.broker.finishSubmission(second, signature: signature)
        #expect(a.encodedBytes == b.encodedBytes)
        #expect(f.finishedBlobCount() == 1)
        #expect(try f.store.browse(recipient: BrokerFixture.b).count == 1)
    }
}

extension BrokerSendTests {
    @Test func configurationLimitsAreChecked() async throws {
        let f = try await BrokerFixture()
        var config = try BrokerConfiguration(
            brokerID: try ParticipantID("broker:klammer-1"), certificate: f.brokerCertificate,
            key: f.brokerKey, directory: f.dir.file("broker2"))
        config.maxInlinePayload = 2 << 20
        #expect(throws: BrokerError.self) { try config.validate() }
        config.maxInlinePayload = 1024
        config.limits.maxRecipients = 2000
        #expect(throws: BrokerError.self) { try config.validate() }
        // A key that is not the certificate's is refused up front.
        #expect(throws: CryptoError.self) {
            _ = try BrokerConfiguration(
                brokerID: try ParticipantID("broker:klammer-1"), certificate: f.brokerCertificate,
                key: try PrivateKey.generate(.p256), directory: f.dir.file("broker3"))
        }
    }
}

extension BrokerSendTests {
    /// A signed `accepted` receipt promises durability (SPEC.md §7.2): the broker refuses a store that confirms
    /// appends before fsync (`batched`), whatever configured it.
    @Test func storeThatConfirmsBeforeFsyncIsRefused() async throws {
        let f = try await BrokerFixture()
        var config = BrokerFixture.storeConfig(dir: f.dir, clock: f.clock)
        config.directory = f.dir.file("batched-store")
        config.durability = .batched(maxDelay: .milliseconds(5))
        let store = try await KlammerStore.open(config)
        #expect {
            _ = try BrokerFixture.makeBroker(
                dir: f.dir, cert: f.brokerCertificate, key: f.brokerKey, registry: f.registry,
                store: store, limits: f.limits, maxInline: f.maxInline, clock: f.clock)
        } throws: { ($0 as? BrokerError)?.code == .invalidConfiguration }
        await store.close()
    }
}

extension BrokerSendTests {
    /// A recipient that never fetches cannot make the store grow without bound (issue 14, item 8): at
    /// `maxQueuedMessagesPerRecipient` queued messages a SEND_BEGIN to it is QUOTA_EXCEEDED (retryable), before any
    /// byte is stored; other recipients are not affected, and once it fetched and acknowledged one, sends go on.
    @Test func recipientQueueQuotaRefusesWithQuotaExceeded() async throws {
        let f = try await BrokerFixture()
        var config = try BrokerConfiguration(
            brokerID: try ParticipantID("broker:klammer-1"), certificate: f.brokerCertificate,
            key: f.brokerKey, directory: f.dir.file("broker-quota"))
        config.maxInlinePayload = f.maxInline
        let clock = f.clock
        config.now = { clock.now() }
        config.maxQueuedMessagesPerRecipient = 2
        f.broker.close()
        f.broker = try Broker(configuration: config, registry: f.registry, store: f.store)
        let payload = payloadBytes(100)
        for i in 0..<2 { _ = try await f.send(try f.envelope(payload: payload, clientID: "q-\(i)"), payload: payload) }
        do {
            _ = try f.broker.beginSubmission(
                from: f.participant(BrokerFixture.sender),
                envelopeBytes: try f.envelope(payload: payload, clientID: "q-2").canonicalBytes)
            Issue.record("a third message for a recipient at its quota was accepted")
        } catch let error as ProtocolError {
            #expect(error.code == .quotaExceeded && error.code.isRetryable)
            #expect(error.message.contains("store.max_queued_messages_per_recipient") && error.message.contains(BrokerFixture.b))
        }
        _ = try await f.send(try f.envelope(to: [BrokerFixture.c], payload: payload, clientID: "q-c"), payload: payload)
        let b = f.participant(BrokerFixture.b)
        let d = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("b"), max: 1).first)
        let ack = try f.acknowledgement(for: d, by: BrokerFixture.b)
        _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("b"), statement: ack.statement, signature: ack.signature)
        _ = try await f.send(try f.envelope(payload: payload, clientID: "q-3"), payload: payload)
    }
}
