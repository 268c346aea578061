import ArgumentParser
import Foundation
import KlammerAdmin

/// `klammerctl queue …`: the message queues of a running klammerd (one per recipient participant).
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Inspect and purge message queues (one per recipient).",
        subcommands: [QueueList.self, QueueStats.self, QueuePeek.self, QueuePurge.self])
}

struct QueueList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List queues with their entry counts by state.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let queues = try await socket.client().call(.listQueues, as: [AdminQueueView].self)
        if json { return try Output.json(queues) }
        Output.table(
            ["QUEUE", "READY", "IN_FLIGHT", "DELAYED", "DEAD"],
            queues.map {
                [$0.recipient, "\($0.ready)", "\($0.inFlight)", "\($0.delayed)", "\($0.deadLettered)"]
            })
    }
}

struct QueueStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show one queue's entry counts by state.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The queue (recipient participant id).") var id: String

    func run() async throws {
        let stats = try await socket.client().call(.showQueue(id), as: AdminQueueView.self)
        if json { return try Output.json(stats) }
        print("queue        \(stats.recipient)")
        print("ready        \(stats.ready)")
        print("in flight    \(stats.inFlight)")
        print("delayed      \(stats.delayed)")
        print("dead letters \(stats.deadLettered)")
    }
}

struct QueuePeek: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peek", abstract: "Show the envelopes waiting in a queue, in delivery order (never payloads).")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "Most envelopes to show (1…10000).") var limit = 100
    @Argument(help: "The queue (recipient participant id).") var id: String

    func run() async throws {
        let entries = try await socket.client().call(.peekQueue(id, limit: limit), as: [AdminQueuedMessageView].self)
        if json { return try Output.json(entries) }
        Output.envelopes(entries)
    }
}

struct QueuePurge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Delete the messages of a queue (and its dead letters) for good; in-flight messages are left alone.",
        discussion: "Asks for the queue id as confirmation unless --yes is given; without a terminal, --yes is required.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Do not ask for confirmation.") var yes = false
    @Option(name: .customLong("message"), help: "Purge only this message id (repeatable).") var messages: [String] = []
    @Argument(help: "The queue (recipient participant id).") var id: String

    func run() async throws {
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw CtlError("purging deletes messages for good; pass --yes to confirm (no terminal to ask on)")
            }
            print(
                "Delete \(messages.isEmpty ? "all queued and dead-lettered messages" : "\(messages.count) message(s)") of \(id)? Type the queue id to confirm: ",
                terminator: "")
            guard readLine() == id else { throw CtlError("not confirmed; nothing was purged") }
        }
        let request = QueueSelectionRequest(messageIds: messages.isEmpty ? nil : messages, confirm: true)
        let result = try await socket.client().call(.purgeQueue(id), body: request, as: AdminQueueOperationView.self)
        if json { return try Output.json(result) }
        print("purged \(result.messageIds.count) message(s) of \(result.queue)")
        if result.skippedInFlight > 0 { print("left \(result.skippedInFlight) in-flight message(s) alone") }
    }
}
