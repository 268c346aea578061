import ArgumentParser
import KlammerAdmin

/// `klammerctl participant show ID`.
struct ParticipantShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one participant with its certificates.")

    @OptionGroup var socket: AdminSocketOption

    @Argument(help: "The participant id, e.g. ags:13004000.")
    var id: String

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let participant = try await socket.client().call(.showParticipant(id), as: AdminParticipantView.self)
        if json { return try Output.json(participant) }
        Output.participant(participant)
    }
}
