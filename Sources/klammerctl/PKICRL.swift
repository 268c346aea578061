import ArgumentParser
import Foundation
import KlammerPKI

/// `klammerctl pki crl`: republishes the CRL with a fresh nextUpdate (run it well before the old one expires).
struct PKICRL: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crl",
        abstract: "Publish a new CRL (DIR/crl.pem) listing every revoked certificate.",
        discussion: """
            Brokers refuse all connections once their CRL is past nextUpdate, so run this regularly (e.g. daily \
            from a timer) with --days comfortably longer than the interval.
            """
    )

    @OptionGroup var directory: PKIDirectoryOption

    @Option(help: "Validity of the CRL in days (1–366).")
    var days: Int = 7

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard (1...366).contains(days) else { throw ValidationError("--days must be 1–366, got \(days)") }
    }

    func run() throws {
        let ca = try directory.resolve()
        let configuration = try ca.loadConfiguration()
        try ca.withLock {
            let authority = try ca.loadAuthority(configuration)
            var database = try ca.loadDatabase()
            let (crl, number) = try ca.publishCRL(authority, database: &database, days: days)
            if json {
                let output = Output(
                    path: ca.crlPath, number: number, revoked: crl.revokedSerialNumbers.count,
                    thisUpdate: crl.lastUpdate, nextUpdate: crl.nextUpdate)
                print(String(decoding: try CADirectory.encoder.encode(output), as: UTF8.self))
            } else {
                print(
                    "published \(ca.crlPath): number \(number), \(crl.revokedSerialNumbers.count) revoked, nextUpdate \(crl.nextUpdate?.formatted(.iso8601) ?? "-")"
                )
            }
        }
    }

    /// The `--json` output of `crl`.
    struct Output: Encodable {
        let path: String
        let number: UInt64
        let revoked: Int
        let thisUpdate: Date
        let nextUpdate: Date?
    }
}
