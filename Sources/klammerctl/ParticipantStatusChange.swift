import ArgumentParser
import KlammerAdmin

/// The shared part of `participant suspend|resume|revoke ID`.
protocol ParticipantStatusChange: AsyncParsableCommand {
    var socket: AdminSocketOption { get }
    var id: String { get }
    static var change: AdminRoute.StatusChange { get }
    static var pastTense: String { get }
}

extension ParticipantStatusChange {
    func run() async throws {
        let participant = try await socket.client().call(
            .changeStatus(id, Self.change), as: AdminParticipantView.self)
        print("\(Self.pastTense) \(participant.id) (\(participant.name)): status \(participant.status)")
    }
}

/// `klammerctl participant suspend ID`.
struct ParticipantSuspend: ParticipantStatusChange {
    static let configuration = CommandConfiguration(
        commandName: "suspend", abstract: "Suspend a participant: its connections are refused until it is resumed.")
    static let change = AdminRoute.StatusChange.suspend
    static let pastTense = "suspended"
    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
}

/// `klammerctl participant resume ID`.
struct ParticipantResume: ParticipantStatusChange {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume a suspended participant.")
    static let change = AdminRoute.StatusChange.resume
    static let pastTense = "resumed"
    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
}

/// `klammerctl participant revoke ID`.
struct ParticipantRevoke: ParticipantStatusChange {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a participant for good (cannot be resumed; also revoke its certificate with 'pki revoke')."
    )
    static let change = AdminRoute.StatusChange.revoke
    static let pastTense = "revoked"
    @OptionGroup var socket: AdminSocketOption
    @Argument(help: "The participant id.") var id: String
}
