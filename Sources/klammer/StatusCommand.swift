import ArgumentParser
import Foundation
import KlammerClient
import KlammerProtocol

/// `klammer status MESSAGE_ID`: the routing slip.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the routing slip (all receipts) of a message you sent or received.")

    @OptionGroup var profile: ProfileOptions

    @Flag(name: .long, help: "Print the receipts as JSON.")
    var json = false

    @Argument(help: ArgumentHelp("Message id (32 hex digits).", valueName: "MESSAGE_ID"))
    var messageID: String

    func run() async throws {
        guard let id = MessageID(hex: messageID) else {
            throw KlammerClientError(
                .invalidArgument, "\(messageID) is not a message id; message ids are 32 hex digits as printed by `klammer send`")
        }
        let client = try await profile.connect()
        let receipts: [SignedReceipt]
        do { receipts = try await client.status(id) } catch {
            await client.close()
            throw error
        }
        var unverified = 0
        for receipt in receipts where (try? await client.verifyReceipt(receipt)) == nil { unverified += 1 }
        await client.close()
        if json {
            print(String(decoding: try MessageDirectory.receiptsJSON(receipts), as: UTF8.self))
            return
        }
        print("message \(id)")
        for receipt in receipts {
            let r = receipt.receipt
            var line = "  \(r.kind.description.padding(toLength: 13, withPad: " ", startingAt: 0)) \(Timestamp.iso(r.timestampMillis))"
            if let recipient = r.recipient { line += "  \(recipient)" } else { line += "  from \(r.sender)" }
            if let reason = r.reason { line += "  reason \(reason.name)" }
            print(line)
        }
        if unverified > 0 {
            print("  warning: \(unverified) receipt signature(s) did not verify with the broker's TLS certificate")
        }
    }
}
