import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import KlammerTestSupport
import Testing

/// End-to-end encryption against a real `klammerd --dev` with the real `klammer`/`klammerctl`/`openssl` binaries
/// (SPEC.md §3.8, §5.10, §5.11): the directory, `send --encrypt`, decrypting recipients, a participant that is not a
/// recipient, and a scan of the broker's data directory for plaintext.
@Suite(.serialized) struct EncryptionEndToEndTests {
    static let schwerin = "ags:13004000"  // sender
    static let rostock = "ags:13003000"  // recipient, P-256 (dev PKI)
    static let seenplatte = "ags:13071000"  // recipient, RSA-3072, registered by the test
    static let ludwigslust = "ags:13076000"  // registered, not a recipient

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// 32-byte samples at spread offsets (start, end and between).
    static func samples(of bytes: [UInt8], count: Int = 6) -> [Data] {
        (0..<count).map { i in
            let offset = (bytes.count - 32) * i / (count - 1)
            return Data(bytes[offset..<(offset + 32)])
        }
    }

    /// How many of `samples` occur in any regular file under `directory` (files read whole; the dev store is small).
    static func occurrences(of samples: [Data], under directory: String) throws -> Int {
        var found = Set<Int>()
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = (directory as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                (attributes[.type] as? FileAttributeType) == .typeRegular,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            for (index, sample) in samples.enumerated() where data.range(of: sample) != nil { found.insert(index) }
        }
        return found.count
    }

    @Test func encryptedExchangeDirectoryAndPlaintextScan() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let socket = daemon.dataDirectory + "/admin.sock"

        // A fourth participant with an RSA-3072 key, issued by the dev CA and registered through the admin API.
        let ca = try CertificateAuthority(
            certificate: Certificate.loadAll(fromPEMFile: daemon.caPath)[0],
            key: PrivateKey.load(fromFile: daemon.pki + "/ca.key"))
        let rsaKey = try PrivateKey.generate(.rsa(bits: 3072))
        let rsaCertificate = try ca.issue(
            commonName: "Landkreis Mecklenburgische Seenplatte",
            subjectAlternativeNames: ["URI:urn:klammer:participant:\(Self.seenplatte)"],
            publicKey: rsaKey.publicKey, usage: .client)
        let seenplatteCert = base.file("seenplatte.pem"), seenplatteKey = base.file("seenplatte.key")
        try rsaCertificate.pemString.write(toFile: seenplatteCert, atomically: true, encoding: .utf8)
        try rsaKey.pkcs8PEM.write(toFile: seenplatteKey, atomically: true, encoding: .utf8)
        let add = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammerctl"),
            [
                "participant", "add", "--socket", socket, "--id", Self.seenplatte,
                "--name", "Landkreis Mecklenburgische Seenplatte", "--cert", seenplatteCert
            ])
        #expect(add.status == 0, "\(add.stderr)")
        let seenplatteEnvironment = [
            "KLAMMER_CERT": seenplatteCert, "KLAMMER_KEY": seenplatteKey,
            "KLAMMER_CA": daemon.caPath, "KLAMMER_BROKER": daemon.broker
        ]

        // Directory: text, JSON and --out, and the broker's signature checks out with openssl.
        let rostockCertificate = try Certificate.loadAll(fromPEMFile: daemon.certPath(Self.rostock))[0]
        let text = try ProcessRunner.klammer(["directory", Self.rostock], environment: daemon.environment(Self.schwerin))
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains(rostockCertificate.fingerprint.hex))
        #expect(text.stdout.contains("valid until"))
        let answerDirectory = base.file("directory-rsa")
        let json = try ProcessRunner.klammer(
            ["directory", "--json", "--out", answerDirectory, Self.seenplatte],
            environment: daemon.environment(Self.schwerin))
        #expect(json.status == 0, "\(json.stderr)")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let listed = try #require(answer["certificates"] as? [[String: Any]])
        #expect(listed.map { $0["fingerprint"] as? String } == [rsaCertificate.fingerprint.hex])
        let issuedAt = try #require(answer["issuedAtMillis"] as? Int), validUntil = try #require(answer["validUntilMillis"] as? Int)
        #expect(validUntil - issuedAt == 3_600_000)
        #expect(FileManager.default.fileExists(atPath: answerDirectory + "/\(rsaCertificate.fingerprint.hex).pem"))
        let signed = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", answerDirectory + "/directory.p7s",
            "-content", answerDirectory + "/directory.bin", "-certfile", daemon.pki + "/broker.pem",
            "-CAfile", daemon.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(signed.status == 0, "\(signed.stderr)")
        let unknown = try ProcessRunner.klammer(["directory", "ags:99999999"], environment: daemon.environment(Self.schwerin))
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("UNKNOWN_PARTICIPANT") || unknown.stderr.contains("not registered"), "\(unknown.stderr)")

        // Two documents (one stored inline, one as a blob), encrypted for Rostock (EC) and Seenplatte (RSA).
        let small = Self.randomBytes(20_000), large = Self.randomBytes(900_000)
        let smallFile = base.file("anhoerung.pdf"), largeFile = base.file("bauantrag.pdf")
        try Data(small).write(to: URL(fileURLWithPath: smallFile))
        try Data(large).write(to: URL(fileURLWithPath: largeFile))
        let send = try ProcessRunner.klammer(
            [
                "send", "--encrypt", "--to", Self.rostock, "--to", Self.seenplatte,
                "--subject", "Verschlüsselt", smallFile, largeFile
            ],
            environment: daemon.environment(Self.schwerin))
        #expect(send.status == 0, "\(send.stderr)")
        let sentIDs = send.stdout.matches(of: /message ([0-9a-f]{32})/).map { String($0.1) }
        #expect(sentIDs.count == 2)

        // The participant that is not a recipient cannot fetch the messages.
        let outsider = try ProcessRunner.klammer(
            ["receive", "--out", base.file("inbox-ludwigslust")], environment: daemon.environment(Self.ludwigslust))
        #expect(outsider.status == 0, "\(outsider.stderr)")
        #expect(outsider.stderr.contains("no messages waiting"))

        // Control: the same scan finds the samples of an unencrypted message, so the scan can fail.
        let control = Self.randomBytes(400_000)
        let controlFile = base.file("klartext.pdf")
        try Data(control).write(to: URL(fileURLWithPath: controlFile))
        let plain = try ProcessRunner.klammer(
            ["send", "--to", Self.ludwigslust, controlFile], environment: daemon.environment(Self.schwerin))
        #expect(plain.status == 0, "\(plain.stderr)")

        // Both recipients receive, decrypt and acknowledge.
        for (participant, environment, certificate, key) in [
            (Self.rostock, daemon.environment(Self.rostock), daemon.certPath(Self.rostock), daemon.keyPath(Self.rostock)),
            (Self.seenplatte, seenplatteEnvironment, seenplatteCert, seenplatteKey)
        ] {
            let inbox = base.file("inbox-\(participant)")
            let receive = try ProcessRunner.klammer(["receive", "--ack", "--out", inbox], environment: environment)
            #expect(receive.status == 0, "\(participant): \(receive.stderr)")
            #expect(receive.stdout.components(separatedBy: "decrypted acknowledged").count == 3, "\(receive.stdout)")
            for id in sentIDs {
                let directory = inbox + "/" + id
                let payload = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/payload")))
                #expect(payload == small || payload == large)
                #expect(FileManager.default.fileExists(atPath: directory + "/payload.cms"))
                // SPEC.md §5.10: openssl decrypts the kept ciphertext with the recipient's key to the same plaintext.
                let opened = base.file("openssl-\(participant)-\(id)")
                let decrypt = try ProcessRunner.openssl([
                    "cms", "-decrypt", "-binary", "-inform", "DER", "-in", directory + "/payload.cms",
                    "-recip", certificate, "-inkey", key, "-out", opened
                ])
                #expect(decrypt.status == 0, "\(decrypt.stderr)")
                #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: opened))) == payload)
                // The sender's signature covers the ciphertext: offline verification still passes.
                let verify = try ProcessRunner.klammer(["verify", "--ca", daemon.caPath, directory])
                #expect(verify.status == 0, "\(verify.stderr)")
            }
        }

        // The non-recipient cannot decrypt the ciphertext with its own key, by Klammer or by openssl.
        let stolen = base.file("inbox-\(Self.rostock)/\(sentIDs[0])/payload.cms")
        let ludwigslustCertificate = try Certificate.loadAll(fromPEMFile: daemon.certPath(Self.ludwigslust))[0]
        let ludwigslustKey = try PrivateKey.load(fromFile: daemon.keyPath(Self.ludwigslust))
        do {
            _ = try CMS.decrypt(
                [UInt8](Data(contentsOf: URL(fileURLWithPath: stolen))), certificate: ludwigslustCertificate, key: ludwigslustKey)
            Issue.record("a non-recipient decrypted the payload")
        } catch let error as CryptoError {
            #expect(error.code == .notARecipient)
        }
        let refused = try ProcessRunner.openssl([
            "cms", "-decrypt", "-binary", "-inform", "DER", "-in", stolen,
            "-recip", daemon.certPath(Self.ludwigslust), "-inkey", daemon.keyPath(Self.ludwigslust),
            "-out", base.file("stolen.out")
        ])
        #expect(refused.status != 0)

        // No 32-byte sample of either encrypted document anywhere under the broker's data directory; the control's are.
        #expect(try Self.occurrences(of: Self.samples(of: small) + Self.samples(of: large), under: daemon.dataDirectory) == 0)
        #expect(try Self.occurrences(of: Self.samples(of: control), under: daemon.dataDirectory) == 6)

        // A suspended participant has no encryption certificates; encrypting for it is refused before anything is sent.
        let suspend = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammerctl"), ["participant", "suspend", "--socket", socket, Self.ludwigslust])
        #expect(suspend.status == 0, "\(suspend.stderr)")
        let empty = try ProcessRunner.klammer(["directory", "--json", Self.ludwigslust], environment: daemon.environment(Self.schwerin))
        #expect(empty.status == 0, "\(empty.stderr)")
        let emptyAnswer = try #require(try JSONSerialization.jsonObject(with: Data(empty.stdout.utf8)) as? [String: Any])
        #expect((emptyAnswer["certificates"] as? [Any])?.isEmpty == true)
        let toSuspended = try ProcessRunner.klammer(
            ["send", "--encrypt", "--to", Self.ludwigslust, smallFile], environment: daemon.environment(Self.schwerin))
        #expect(toSuspended.status != 0)
        #expect(toSuspended.stderr.contains("no encryption certificate"), "\(toSuspended.stderr)")
    }

    /// `KlammerClient.directory(for:)` verifies the broker's signature; a cached answer re-verifies later, and an
    /// altered one does not.
    @Test func directoryAnswerIsVerifiedAndCanBeCheckedAgain() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let client = try await KlammerClient.connect(profile: daemon.profile(Self.schwerin))
        let entry: DirectoryEntry
        do { entry = try await client.directory(for: ParticipantID(Self.rostock)) } catch {
            await client.close()
            throw error
        }
        let broker = try #require(await client.brokerCertificate)
        await client.close()
        let trust = try ClientCredentials.loadTrustStore(daemon.profile(Self.schwerin))
        #expect(
            entry.certificates.map(\.fingerprint) == [try Certificate.loadAll(fromPEMFile: daemon.certPath(Self.rostock))[0].fingerprint])
        #expect(entry.validUntil > Date())
        // Re-verify the cached answer.
        _ = try DirectoryEntry.verify(
            statement: entry.statement, signature: entry.brokerSignature, broker: broker,
            participant: ParticipantID(Self.rostock), trustStore: trust)
        // Expired.
        #expect(throws: KlammerClientError.self) {
            _ = try DirectoryEntry.verify(
                statement: entry.statement, signature: entry.brokerSignature, broker: broker,
                participant: ParticipantID(Self.rostock), trustStore: trust, at: entry.validUntil + 1)
        }
        // Another participant's answer presented for Rostock.
        #expect(throws: KlammerClientError.self) {
            _ = try DirectoryEntry.verify(
                statement: entry.statement, signature: entry.brokerSignature, broker: broker,
                participant: ParticipantID(Self.ludwigslust), trustStore: trust)
        }
        // A statement with a swapped certificate list no longer matches the broker's signature.
        let forged = try DirectoryStatement(
            participant: entry.statement.participant, issuedAtMillis: entry.statement.issuedAtMillis,
            validUntilMillis: entry.statement.validUntilMillis + 86_400_000, broker: entry.statement.broker,
            certificates: entry.statement.certificates)
        #expect(throws: KlammerClientError.self) {
            _ = try DirectoryEntry.verify(
                statement: forged, signature: entry.brokerSignature, broker: broker,
                participant: ParticipantID(Self.rostock), trustStore: trust)
        }
    }
}
