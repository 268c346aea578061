import ArgumentParser
import KlammerAdmin

/// `klammerctl participant remove ID`.
struct ParticipantRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a participant from the registry (its certificates stop working at once).")

    @OptionGroup var socket: AdminSocketOption

    @Argument(help: "The participant id.")
    var id: String

    func run() throws {
        let removed = try socket.client().call("DELETE", "/v1/participants/\(AdminClient.segment(id))", as: RemovedParticipantResponse.self)
        print("removed \(removed.removed)")
    }
}
