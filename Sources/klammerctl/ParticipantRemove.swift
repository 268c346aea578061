import ArgumentParser
import KlammerAdmin

/// `klammerctl participant remove ID`.
struct ParticipantRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a participant from the registry (its certificates stop working at once).")

    @OptionGroup var socket: AdminSocketOption

    @Argument(help: "The participant id.")
    var id: String

    func run() async throws {
        let removed = try await socket.client().call(.removeParticipant(id), as: RemovedParticipantResponse.self)
        print("removed \(removed.removed)")
    }
}
