import ArgumentParser
import KlammerAdmin

/// `klammerctl participant policy set ID --allow PATTERN …`.
struct ParticipantPolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Set whom a participant may send to.", subcommands: [ParticipantPolicySet.self])
}

/// `klammerctl participant policy set`.
struct ParticipantPolicySet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Replace a participant's routing policy.",
        discussion:
            "Patterns: '*' (everyone), an exact id (ags:13004000) or a prefix ending in '*' (ags:13*). No --allow at all forbids sending."
    )

    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
    @Option(help: ArgumentHelp("A routing pattern (repeatable; comma-separated lists allowed).", valueName: "pattern")) var allow:
        [String] = []

    func run() async throws {
        let patterns = allow.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }.filter {
            !$0.isEmpty
        }
        let participant = try await socket.client().call(
            .setPolicy(id), body: SetPolicyRequest(allow: patterns), as: AdminParticipantView.self)
        print("\(participant.id) may send to: \(participant.policy.isEmpty ? "nobody" : participant.policy.joined(separator: ", "))")
    }
}
