import ArgumentParser

/// `klammerctl participant`: manage the participants of a running broker through its admin API (SPEC.md §11).
struct ParticipantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "participant",
        abstract: "Register, inspect, suspend, resume, revoke and remove participants of a running broker.",
        discussion: """
            Talks to klammerd's admin socket (--socket, or KLAMMER_ADMIN_SOCKET); every call is recorded in the \
            broker's audit log with your uid and pid.
            """,
        subcommands: [
            ParticipantList.self, ParticipantShow.self, ParticipantAdd.self,
            ParticipantSuspend.self, ParticipantResume.self, ParticipantRevoke.self, ParticipantRemove.self,
            ParticipantCertCommand.self, ParticipantPolicyCommand.self
        ]
    )
}
