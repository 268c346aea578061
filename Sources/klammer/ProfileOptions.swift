import ArgumentParser
import KlammerClient
import Logging

/// `--cert --key --ca --crl --broker --profile`, merged over the profile file and the environment.
struct ProfileOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Participant certificate (PEM).", valueName: "FILE"))
    var cert: String?

    @Option(name: .long, help: ArgumentHelp("Private key of the certificate (PEM).", valueName: "FILE"))
    var key: String?

    @Option(name: .long, help: ArgumentHelp("CA bundle the broker and senders chain to (PEM).", valueName: "FILE"))
    var ca: String?

    @Option(name: .long, help: ArgumentHelp("CRL of the CA (PEM); enables revocation checks.", valueName: "FILE"))
    var crl: String?

    @Option(name: .long, help: ArgumentHelp("Broker address.", valueName: "HOST:PORT"))
    var broker: String?

    @Option(name: .long, help: ArgumentHelp("Profile file: JSON or key = value lines (cert, key, ca, crl, broker).", valueName: "FILE"))
    var profile: String?

    @Flag(name: .long, help: "Log TLS and protocol warnings to stderr.")
    var verbose = false

    /// Warnings of the TLS layer repeat what the error message says; show them only with --verbose.
    var logger: Logger {
        var logger = Logger(label: "klammer")
        logger.logLevel = verbose ? .debug : .error
        return logger
    }

    /// Connects with the resolved profile.
    ///
    /// Typed like `KlammerClient.connect`: Swift 6.3.1's optimizer crashes ("While splitting coroutine") when it
    /// inlines that typed-throwing async call into an untyped-throwing async function, as this one was before.
    func connect() async throws(KlammerClientError) -> KlammerClient {
        let resolved = try resolve()
        return try await KlammerClient.connect(profile: resolved, logger: logger)
    }

    /// Flags over profile file over environment.
    func resolve() throws(KlammerClientError) -> ClientProfile {
        let flags = ClientProfile(certificatePath: cert, keyPath: key, caPath: ca, crlPath: crl, broker: broker)
        var merged = flags
        if let profile { merged = merged.merged(over: try ClientProfile.load(fromFile: profile)) }
        return merged.merged(over: ClientProfile.fromEnvironment())
    }
}
