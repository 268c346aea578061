import ArgumentParser

/// `klammerctl pki`: the operator's certificate authority (SPEC.md §8).
struct PKICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Run the Klammer certificate authority: create it, issue and revoke participant certificates, publish CRLs.",
        discussion: """
            The CA directory (--dir, or the environment variable KLAMMER_PKI_DIR) holds ca.pem, the CA key \
            (ca-key.pem unless init --ca-key put it elsewhere), crl.pem, ca.json and the certificate database \
            certificates.json. Keep it on an encrypted, backed-up volume readable only by the operator.
            """,
        subcommands: [
            PKIInit.self, PKIIssue.self, PKIRevoke.self, PKICRL.self, PKIExpiring.self, PKIList.self
        ]
    )
}
