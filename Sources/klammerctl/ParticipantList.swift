import ArgumentParser
import KlammerAdmin

/// `klammerctl participant list`.
struct ParticipantList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List all participants.")

    @OptionGroup var socket: AdminSocketOption

    @Flag(help: "Print a JSON array.")
    var json = false

    func run() async throws {
        let participants = try await socket.client().call(.listParticipants, as: [AdminParticipantView].self)
        if json { return try Output.json(participants) }
        if participants.isEmpty {
            print("no participants registered; add one with 'klammerctl participant add --id ID --name NAME --cert FILE'")
            return
        }
        Output.table(
            ["ID", "STATUS", "CERTS", "POLICY", "NAME"],
            participants.map { [$0.id, $0.status, "\($0.certificates.count)", $0.policy.joined(separator: ","), $0.name] })
    }
}
