import ArgumentParser
import KlammerAdmin

/// `klammerctl dlq …`: messages that reached the delivery attempt limit.
struct DLQCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List and replay dead-lettered messages.", subcommands: [DLQList.self, DLQReplay.self])
}

struct DLQList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List dead letters of one queue or of all queues.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Most envelopes to show (1…10000).") var limit = 100
    @Argument(help: "The queue (recipient participant id); all queues if absent.") var id: String?

    func run() async throws {
        let client = try socket.client()
        let queues: [AdminDeadLetterQueueView<AdminQueuedMessageView>]
        if let id {
            let entries = try await client.call(.listDeadLetters(id, limit: limit), as: [AdminQueuedMessageView].self)
            if json { return try Output.json(entries) }
            queues = [.init(queue: id, messages: entries)]
        } else {
            queues = try await client.call(.listDeadLetters(nil, limit: limit), as: [AdminDeadLetterQueueView<AdminQueuedMessageView>].self)
            if json { return try Output.json(queues) }
        }
        if queues.allSatisfy({ $0.messages.isEmpty }) { return print("no dead letters") }
        for queue in queues where !queue.messages.isEmpty {
            print("\(queue.queue):")
            Output.envelopes(queue.messages)
        }
    }
}

struct DLQReplay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Move dead letters back into their queue with the attempt count reset.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .customLong("message"), help: "Replay only this message id (repeatable); all if absent.") var messages: [String] = []
    @Argument(help: "The queue (recipient participant id).") var id: String

    func run() async throws {
        let request = QueueSelectionRequest(messageIds: messages.isEmpty ? nil : messages)
        let result = try await socket.client().call(.replayDeadLetters(id), body: request, as: AdminQueueOperationView.self)
        if json { return try Output.json(result) }
        print("replayed \(result.messageIds.count) message(s) into \(result.queue)")
        for id in result.messageIds { print("  \(id)") }
    }
}
