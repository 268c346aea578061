import ArgumentParser
import KlammerClient

/// `--cert --key --ca --crl --broker --profile` for a broker the bench did not start, merged over the profile file
/// and the environment (the same options and precedence as `klammer`'s).
struct ProfileOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Participant certificate (PEM).", valueName: "FILE"))
    var cert: String?

    @Option(name: .long, help: ArgumentHelp("Private key of the certificate (PEM).", valueName: "FILE"))
    var key: String?

    @Option(name: .long, help: ArgumentHelp("CA bundle the broker and senders chain to (PEM).", valueName: "FILE"))
    var ca: String?

    @Option(name: .long, help: ArgumentHelp("CRL of the CA (PEM); enables revocation checks.", valueName: "FILE"))
    var crl: String?

    @Option(name: .long, help: ArgumentHelp("Broker address (without it the bench starts its own klammerd --dev).", valueName: "HOST:PORT"))
    var broker: String?

    @Option(name: .long, help: ArgumentHelp("Profile file: JSON or key = value lines (cert, key, ca, crl, broker).", valueName: "FILE"))
    var profile: String?

    /// Flags over profile file over environment.
    func resolve() throws(KlammerClientError) -> ClientProfile {
        let flags = ClientProfile(certificatePath: cert, keyPath: key, caPath: ca, crlPath: crl, broker: broker)
        var merged = flags
        if let profile { merged = merged.merged(over: try ClientProfile.load(fromFile: profile)) }
        return merged.merged(over: ClientProfile.fromEnvironment())
    }
}
