import ArgumentParser

/// `klammerctl audit`: read and check the broker's audit log (SPEC.md §10).
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Show and verify the broker's hash-chained audit log.",
        subcommands: [AuditTail.self, AuditVerify.self]
    )
}
