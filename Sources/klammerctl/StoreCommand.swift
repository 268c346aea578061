import ArgumentParser
import Foundation
import KlammerAdmin

/// `klammerctl store scrub`.
struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Check the message store.", subcommands: [StoreScrub.self])
}

struct StoreScrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scrub",
        abstract: "Verify every log record's and blob's checksum (reads the whole store, changes nothing). Exits 1 on damage.")

    @OptionGroup var socket: AdminSocketOption
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let reply = try await socket.client().send(.scrubStore)
        guard reply.status == 200 || reply.status == 409 else {
            if let error = AdminError.decode(status: reply.status, body: reply.body) { throw error }
            throw CtlError("the admin API answered HTTP \(reply.status)")
        }
        let view = try AdminJSON.decoder().decode(AdminScrubView.self, from: .init(reply.body))
        if json {
            try Output.json(view)
        } else {
            print("\(view.segments) segments, \(view.records) records, \(view.logBytes) log bytes, \(view.blobs) blobs checked")
            for problem in view.problems { print("DAMAGED \(problem.file) at \(problem.offset) (+\(problem.length)): \(problem.reason)") }
            print(view.clean ? "clean" : "\(view.problems.count) problem(s)")
        }
        if !view.clean { throw ExitCode(1) }
    }
}
