import Foundation
import KlammerCrypto
import KlammerProtocol
import Testing
@testable import KlammerClient
import KlammerTestSupport

/// Batch signatures (SPEC.md §5.5 form 2, §5.6): one CMS over the Merkle root, each message verifiable on its own —
/// by us, by `klammer verify` and by `openssl cms -verify` over the recomputed root statement.
@Suite struct BatchSigningTests {
    static let rostock = try! ParticipantID("ags:13003000")

    @Test func treeMatchesTheSpecExample() throws {
        let d0 = try SHA256Digest(bytes: SHA256.hash(Array("envelope 0".utf8)))
        let d1 = try SHA256Digest(bytes: SHA256.hash(Array("envelope 1".utf8)))
        let d2 = try #require(SHA256Digest(hex: "fe2806fb05142be7cd44bedcac89fd974269cb5f889dbc5e35be085c7843e567"))
        let tree = try BatchMerkleTree(envelopeDigests: [d0, d1, d2])
        #expect(tree.root.hex == "c0fa2dcac071db91f96441469c6def2e700f21d48bf0cf062503cd33c913b679")
        #expect(tree.path(for: 2).map(\.hex) == ["033b08cbc41a84f7b29cd43deced6350bdb3c103f182761663684e93197737f7"])
        #expect(
            tree.statement.canonicalBytes.map { String(format: "%02x", $0) }.joined()
                == "4b4c414d4d45522d424154434800010003c0fa2dcac071db91f96441469c6def2e700f21d48bf0cf062503cd33c913b679")
        #expect(throws: KlammerClientError.self) { try BatchMerkleTree(envelopeDigests: []) }
    }

    @Test func everyMemberVerifiesAndForgeriesFail() throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        // Sizes that exercise promoted nodes at several levels.
        for count in [1, 2, 3, 5, 8, 13] {
            let messages = try (0..<count).map { i in
                try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([UInt8(i)]))
            }
            let batch = try PreparedMessage.signBatches(messages, credentials: schwerin.credentials)
            #expect(batch.count == count)
            let cmsSet = Set(batch.map(\.signature.cms))
            #expect(cmsSet.count == 1, "one CMS for the whole batch")
            for (i, message) in batch.enumerated() {
                guard case .batch(let proof) = message.signature else { Issue.record("not batch form"); continue }
                #expect(proof.leafIndex == UInt16(i))
                #expect(proof.leafCount == UInt16(count))
                try MessageVerifier.verifySignature(
                    envelope: message.envelope, signature: message.signature,
                    senderCertificate: schwerin.credentials.certificate, trustStore: pki.trustStore)
                // The member's proof does not cover another envelope.
                let other = batch[(i + 1) % count].envelope
                if count > 1 {
                    #expect(throws: KlammerClientError.self) {
                        try MessageVerifier.verifySignature(
                            envelope: other, signature: message.signature,
                            senderCertificate: schwerin.credentials.certificate, trustStore: pki.trustStore)
                    }
                }
                // A forged sibling fails.
                if let first = proof.path.first {
                    var path = proof.path
                    path[0] = try SHA256Digest(bytes: SHA256.hash(first.bytes))
                    let forged = try BatchInclusionProof(cms: proof.cms, leafCount: proof.leafCount, leafIndex: proof.leafIndex, path: path)
                    #expect(throws: KlammerClientError.self) {
                        try MessageVerifier.verifySignature(
                            envelope: message.envelope, signature: .batch(forged),
                            senderCertificate: schwerin.credentials.certificate, trustStore: pki.trustStore)
                    }
                }
            }
        }
        // Batches are split at maxBatchSize, one CMS each.
        let five = try (0..<5).map { _ in
            try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([1]))
        }
        let split = try PreparedMessage.signBatches(five, credentials: schwerin.credentials, maxBatchSize: 2)
        #expect(Set(split.map(\.signature.cms)).count == 3)
    }

    @Test func batchMemberVerifiesOfflineWithKlammerAndOpenSSL() throws {
        let pki = try TestPKI()
        let out = try TempDir()
        let schwerin = try pki.participant("ags:13004000")
        let payloads = (0..<3).map { Array("Bescheid \($0)".utf8) }
        let messages = try payloads.map {
            try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes($0))
        }
        let batch = try PreparedMessage.signBatches(messages, credentials: schwerin.credentials)
        let member = batch[2]
        let (length, digest) = try PayloadSource.bytes(payloads[2]).measure()
        let received = ReceivedMessage(
            stored: StoredEnvelope(messageID: .random(), acceptedAtMillis: member.envelope.createdAtMillis + 1, envelope: member.envelope),
            signature: member.signature, senderCertificateDER: schwerin.credentials.certificate.derBytes,
            payload: .bytes(payloads[2]), payloadDigest: digest, payloadLength: length, verificationError: nil)
        let directory = try MessageDirectory.write(received, into: out.path)
        #expect(FileManager.default.fileExists(atPath: directory + "/batch-root.bin"))
        #expect(try MessageDirectory.verify(directory, trustStore: pki.trustStore).form == .batch)

        // SPEC.md §5.10: recompute the root from the envelope digest and proof (done by `klammer receive`, file
        // batch-root.bin), then openssl cms over it.
        let openssl = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
            "-content", directory + "/batch-root.bin", "-certfile", directory + "/sender.pem",
            "-CAfile", pki.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")
        let cli = try ProcessRunner.klammer(["verify", "--ca", pki.caPath, directory])
        #expect(cli.status == 0, "\(cli.stderr)")

        // The SPEC.md §5.10 shell procedure (sha256 + openssl only) recomputes the same statement and verifies.
        let script = out.file("batch-verify.sh")
        try Self.specProcedure().write(toFile: script, atomically: true, encoding: .utf8)
        let procedure = try ProcessRunner.runIsolated("/bin/bash", [script, directory, pki.caPath], seconds: 30)
        #expect(procedure.status == 0, "\(procedure.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: directory + ".root.bin"))
                == Data(contentsOf: URL(fileURLWithPath: directory + "/batch-root.bin")))
        // ...and refuses a forged proof node.
        var signature = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/signature.bin")))
        signature[signature.count - 1] ^= 0x01
        try Data(signature).write(to: URL(fileURLWithPath: directory + "/signature.bin"))
        let forged = try ProcessRunner.runIsolated("/bin/bash", [script, directory, pki.caPath], seconds: 30)
        #expect(forged.status != 0)

        // The same CMS does not verify over the member's envelope itself (it signs the root, not the envelope).
        let wrong = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
            "-content", directory + "/envelope.bin", "-certfile", directory + "/sender.pem",
            "-CAfile", pki.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(wrong.status != 0)
    }

    /// The `<!-- procedure: batch-verify -->` bash block of SPEC.md.
    static func specProcedure() throws -> String {
        let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("SPEC.md")
        let text = try String(contentsOf: spec, encoding: .utf8)
        let marker = try #require(text.range(of: "<!-- procedure: batch-verify -->\n```bash\n"))
        let end = try #require(text.range(of: "```\n", range: marker.upperBound..<text.endIndex))
        return String(text[marker.upperBound..<end.lowerBound])
    }
}
