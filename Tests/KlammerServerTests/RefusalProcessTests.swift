import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerTestSupport
import KlammerTLS
import Testing

/// Refusals against the real `klammerd --dev`, driven by the real `klammer` and `klammerctl`: refused participants
/// get their code through `klammer send` (SPEC.md §4.5), refusals land in the audit log (§10.4) whose chain still
/// verifies, and an unknown recipient earns a signed `rejected` receipt (§7.5).
@Suite(.serialized) struct RefusalProcessTests {
    typealias Run = ProcessResult

    /// Runs one of our tools to completion under coreutils `timeout`, without the caller's client settings.
    /// `directory` is unused: the runner keeps stderr in its own scratch file.
    static func run(_ tool: String, _ arguments: [String], in directory: String) throws -> Run {
        try ProcessRunner.run(
            KlammerdProcessTests.binary(tool), arguments,
            environment: ProcessRunner.environment(removing: {
                ["KLAMMER_CERT", "KLAMMER_KEY", "KLAMMER_CA", "KLAMMER_CRL", "KLAMMER_BROKER"].contains($0)
            }), timeoutSeconds: 60)
    }

    /// A running dev daemon with its PKI, admin socket and a scratch directory.
    struct Setup {
        let base: String
        let daemon: KlammerdProcessTests.Daemon
        let pki: DevPKI
        var socket: String { daemon.dataDirectory + "/admin.sock" }
        var schwerin: DevPKI.Participant { pki.participants[0] }
        var rostock: DevPKI.Participant { pki.participants[1] }
        var landkreis: DevPKI.Participant { pki.participants[2] }

        func send(as cert: String, key: String, to recipients: [String], json: Bool = false, file: String? = nil) throws -> Run {
            let document = file ?? base + "/doc.txt"
            if !FileManager.default.fileExists(atPath: document) {
                try "Bescheid".write(toFile: document, atomically: true, encoding: .utf8)
            }
            return try RefusalProcessTests.run(
                "klammer",
                [
                    "send", "--cert", cert, "--key", key, "--ca", pki.caCertificatePath,
                    "--broker", "127.0.0.1:\(daemon.port)"
                ]
                    + recipients.flatMap { ["--to", $0] } + (json ? ["--json"] : []) + [document], in: base)
        }

        func ctl(_ arguments: [String]) throws -> Run {
            try RefusalProcessTests.run("klammerctl", arguments + ["--socket", socket], in: base)
        }

        /// The audit entries (as JSON objects) read through the admin API.
        func auditEntries() throws -> [[String: Any]] {
            let tail = try ctl(["audit", "tail", "--json", "--count", "1000"])
            guard tail.status == 0, let entries = try JSONSerialization.jsonObject(with: Data(tail.stdout.utf8)) as? [[String: Any]] else {
                Issue.record("klammerctl audit tail failed: \(tail.stderr)")
                return []
            }
            return entries
        }

        /// Waits (bounded) until an audit entry with `action` and `code` appears (the writer is asynchronous).
        func auditEntry(action: String, code: ErrorCode) async throws -> [String: Any]? {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if let entry = try auditEntries().first(where: {
                    $0["action"] as? String == action && ($0["details"] as? [String: String])?["code"] == "\(code.rawValue)"
                }) {
                    return entry
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }

        func identity(_ p: DevPKI.Participant) throws -> TestIdentity {
            TestIdentity(id: p.id, certificate: p.certificate, key: try PrivateKey.load(fromFile: p.keyPath))
        }
        var trust: TrustStore { TrustStore(anchors: [pki.ca], crls: [pki.crl]) }
    }

    static func withDaemon(_ body: (Setup) async throws -> Void) async throws {
        let base = "/tmp/krp-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let daemon = try KlammerdProcessTests.Daemon(dataDirectory: base + "/dev")
        let setup = Setup(base: base, daemon: daemon, pki: try DevPKI.loadOrCreate(dataDirectory: base + "/dev"))
        try await OperationsProcessTests.waitForAdmin(socket: setup.socket, in: base)
        try await body(setup)
    }

    @Test func refusedParticipantsGetTheirCodeThroughKlammerSend() async throws {
        try await Self.withDaemon { s in
            // Same CA, registered to nobody: the TLS handshake succeeds, HELLO is answered with UNKNOWN_PARTICIPANT.
            let ca = try CertificateAuthority(certificate: s.pki.ca, key: try PrivateKey.load(fromFile: s.pki.caKeyPath))
            let strangerKey = try PrivateKey.generate(.p256)
            let stranger = try ca.issue(
                commonName: "stranger", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:11111111"],
                publicKey: strangerKey.publicKey, usage: .client)
            try stranger.pemString.write(toFile: s.base + "/stranger.pem", atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(
                atPath: s.base + "/stranger.key", contents: Data(strangerKey.pkcs8PEM.utf8),
                attributes: [.posixPermissions: 0o600])
            let unknown = try s.send(as: s.base + "/stranger.pem", key: s.base + "/stranger.key", to: [s.rostock.id])
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("UNKNOWN_PARTICIPANT (2001)"), "\(unknown.stderr)")
            #expect(unknown.stderr.contains("not registered to any participant"))
            #expect(unknown.stderr.contains("ask the broker operator"))
            #expect(!unknown.stderr.contains("retrying"))  // not retryable: one attempt

            #expect(try s.ctl(["participant", "suspend", s.rostock.id]).status == 0)
            let suspended = try s.send(as: s.rostock.certificatePath, key: s.rostock.keyPath, to: [s.schwerin.id])
            #expect(suspended.status != 0)
            #expect(suspended.stderr.contains("PARTICIPANT_SUSPENDED (2002)"), "\(suspended.stderr)")
            #expect(suspended.stderr.contains("participant \(s.rostock.id) is suspended"))
            #expect(!suspended.stderr.contains("retrying"))

            #expect(try s.ctl(["participant", "revoke", s.landkreis.id]).status == 0)
            let revoked = try s.send(as: s.landkreis.certificatePath, key: s.landkreis.keyPath, to: [s.schwerin.id])
            #expect(revoked.status != 0)
            #expect(revoked.stderr.contains("PARTICIPANT_REVOKED (2003)"), "\(revoked.stderr)")
            #expect(revoked.stderr.contains("new registration"))

            // Each refused connection is in the audit log with participant, fingerprint, code and reason.
            let unknownEntry = try #require(try await s.auditEntry(action: "connection.refused", code: .unknownParticipant))
            #expect((unknownEntry["details"] as? [String: String])?["fingerprint"] == stranger.fingerprint.hex)
            #expect(unknownEntry["outcome"] as? String == "refused")
            let suspendedEntry = try #require(try await s.auditEntry(action: "connection.refused", code: .participantSuspended))
            #expect(suspendedEntry["subject"] as? String == s.rostock.id)
            #expect(suspendedEntry["actor"] as? String == "participant:\(s.rostock.id)")
            #expect((suspendedEntry["details"] as? [String: String])?["reason"]?.contains("suspended") == true)
            #expect(try await s.auditEntry(action: "connection.refused", code: .participantRevoked) != nil)

            // The audit chain (with the broker-signed checkpoints) still verifies.
            let verify = try s.ctl(["audit", "verify"])
            #expect(verify.status == 0 && verify.stdout.contains("intact"), "\(verify.stdout) \(verify.stderr)")
        }
    }

    @Test func impersonationAndForgedSignatureAreAudited() async throws {
        try await Self.withDaemon { s in
            let schwerin = try s.identity(s.schwerin), rostock = try s.identity(s.rostock), landkreis = try s.identity(s.landkreis)
            let client = try await TestFrameClient.connect(port: s.daemon.port, identity: schwerin, trust: s.trust)
            defer { client.close() }
            _ = try #require(try await client.hello())
            let payload = payloadBytes(300)

            // Impersonation: Schwerin's connection, envelope sender Rostock (signed by Rostock's key even).
            let impersonating = try makeEnvelope(from: rostock, to: [landkreis], payload: payload)
            let (answer1, rejected1) = try await client.uploadRejected(
                requestID: 1, envelope: impersonating, payload: payload, signer: rostock)
            #expect(errorFrame(answer1)?.code == .impersonation)
            #expect(rejected1?.receipt.reason == .impersonation && rejected1?.receipt.sender.rawValue == s.schwerin.id)

            // Forged signature: Schwerin's own envelope with a CMS over other bytes.
            let envelope = try makeEnvelope(from: schwerin, to: [rostock], payload: payload)
            let forged = try CMS.signDetached(Array("not the envelope".utf8), certificate: schwerin.certificate, key: schwerin.key)
            let (answer2, rejected2) = try await client.uploadRejected(
                requestID: 2, envelope: envelope, payload: payload, signature: forged)
            #expect(errorFrame(answer2)?.code == .signatureInvalid)
            #expect(rejected2?.receipt.reason == .signatureInvalid)
            if let rejected2 {
                try CMS.verifyDetached(
                    signature: rejected2.brokerSignature, content: rejected2.receipt.canonicalBytes,
                    signer: s.pki.brokerCertificate)
            }

            let impersonation = try #require(try await s.auditEntry(action: "submission.refused", code: .impersonation))
            let details = try #require(impersonation["details"] as? [String: String])
            #expect(impersonation["subject"] as? String == s.schwerin.id)
            #expect(details["fingerprint"] == schwerin.certificate.fingerprint.hex)
            #expect(details["envelope_sender"] == s.rostock.id && details["code_name"] == "IMPERSONATION")
            let digest = try SHA256Digest(bytes: SHA256.hash(impersonating.canonicalBytes))
            #expect(details["envelope_sha256"] == digest.hex)
            #expect(details["reason"]?.contains("only send in its own name") == true)
            let forgery = try #require(try await s.auditEntry(action: "submission.refused", code: .signatureInvalid))
            #expect((forgery["details"] as? [String: String])?["client_message_id"] == envelope.clientMessageID)

            let verify = try s.ctl(["audit", "verify"])
            #expect(verify.status == 0 && verify.stdout.contains("intact"), "\(verify.stdout) \(verify.stderr)")
        }
    }

    @Test func unknownRecipientEarnsASignedRejectedReceiptInKlammerSendJSON() async throws {
        try await Self.withDaemon { s in
            let run = try s.send(as: s.schwerin.certificatePath, key: s.schwerin.keyPath, to: ["ags:99999999"], json: true)
            #expect(run.status != 0)
            #expect(run.stderr.contains("UNKNOWN_RECIPIENT (2007)"), "\(run.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
            let fields = try #require(object["rejected_receipt"] as? [String: Any])
            #expect(fields["kind"] as? String == "rejected")
            #expect(fields["recipient"] as? String == "ags:99999999")
            #expect((fields["reason"] as? [String: Any])?["code"] as? Int == 2007)
            // The container verifies with the broker certificate and says the same.
            let base64 = try #require(object["rejected_receipt_container"] as? String)
            let container = try #require(Data(base64Encoded: base64))
            let signed = try SignedReceipt(parsing: [UInt8](container), limits: .default)
            try CMS.verifyDetached(
                signature: signed.brokerSignature, content: signed.receipt.canonicalBytes, signer: s.pki.brokerCertificate)
            #expect(signed.receipt.kind == .rejected && signed.receipt.reason?.rawValue == 2007)
            #expect(signed.receipt.recipient?.rawValue == "ags:99999999")
            #expect(signed.receipt.sender.rawValue == s.schwerin.id)
            #expect(signed.receipt.messageID.bytes == [UInt8](repeating: 0, count: 16))
            #expect(signed.receipt.brokerID.rawValue == DevEnvironment.brokerID)
            #expect(try await s.auditEntry(action: "submission.refused", code: .unknownRecipient) != nil)
        }
    }
}
