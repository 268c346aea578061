import ArgumentParser
import Foundation
import KlammerClient
import KlammerProtocol

/// `klammer verify DIR/MESSAGE`: offline verification of a received message directory.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract:
            "Verify a received message directory offline (sender certificate, CMS signature, payload digest, broker-signed receipts).",
        discussion: """
            Needs only the CA bundle (--ca, the profile or KLAMMER_CA). The signature check is the same as
            openssl cms -verify -binary -inform DER -in signature.p7s -content envelope.bin \
            -certfile sender.pem -CAfile CA -purpose any -out /dev/null
            """)

    @OptionGroup var profile: ProfileOptions

    @Argument(help: ArgumentHelp("A message directory written by `klammer receive`.", valueName: "DIR"))
    var directory: String

    func run() async throws {
        let trustStore = try ClientCredentials.loadTrustStore(try profile.resolve())
        let result = try MessageDirectory.verify(directory, trustStore: trustStore)
        let e = result.envelope
        print("OK \(directory)")
        print(
            "  signed by     \(e.sender) (\(result.senderCertificate.subject), certificate sha256 \(result.senderCertificate.fingerprint.hex))"
        )
        print("  recipients    \(e.recipients.map(\.rawValue).joined(separator: ", "))")
        print("  subject       \(TerminalText.escape(e.subject))")
        print("  envelope      sha256 \(result.envelopeDigest.hex) (\(result.form) signature)")
        print("  payload       \(e.payloadLength) bytes, sha256 \(e.payloadDigest.hex)")
        let checkedAt = ISO8601DateFormatter().string(from: result.signatureCheckedAt)
        if result.signatureCheckedAtAcceptance {
            print("  signed at     \(checkedAt) (broker-signed acceptance time; the certificate was valid then, revocation checked now)")
        } else {
            print("  signed at     unknown; certificate checked at \(checkedAt) (now: no verified accepted receipt)")
        }
        if let receipts = result.receipts {
            let kinds = receipts.map { r in r.recipient.map { "\(r.kind) (\($0))" } ?? "\(r.kind)" }
            print("  receipts      \(receipts.count) signed by the broker: \(kinds.joined(separator: ", "))")
        } else {
            print("  receipts      not checked (no broker.pem)")
        }
    }
}
