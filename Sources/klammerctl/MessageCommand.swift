import ArgumentParser
import KlammerAdmin

/// `klammerctl message trace ID`: a message's routing slip.
struct MessageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message", abstract: "Follow a message through the broker.", subcommands: [MessageTraceCommand.self])
}

struct MessageTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Show a message's routing slip: every receipt with its time.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The message id (32 hex digits, as in receipts).") var id: String

    func run() async throws {
        let trace = try await socket.client().call(.traceMessage(id), as: AdminMessageTraceView.self)
        if json { return try Output.json(trace) }
        print("message     \(trace.messageId)")
        print("sender      \(trace.sender)  (client id \(trace.clientMessageId))")
        print("recipients  \(trace.recipients.joined(separator: ", "))")
        Output.table(
            ["TIME", "RECEIPT", "RECIPIENT", "REASON"],
            trace.receipts.map {
                [Output.date($0.timestamp), $0.kind, $0.recipient ?? "-", $0.reason ?? "-"]
            })
    }
}
