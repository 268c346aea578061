import Foundation
@testable import KlammerCrypto
import KlammerTestSupport

/// A temporary directory removed when the value is deinitialised.
typealias TempDir = TemporaryDirectory

/// Shared fixtures: generating keys costs time, so tests share one CA where they do not need their own.
enum Fixtures {
    static let ca: CertificateAuthority = try! TestCA("Klammer Test CA", organization: "Land Berlin").authority
}

/// Runs the `openssl` command-line tool (interop oracle) in `directory`.
enum OpenSSLCLI {
    @discardableResult
    static func run(_ arguments: [String], in directory: TempDir) throws -> ProcessResult {
        try ProcessRunner.run(ProcessRunner.openssl, arguments, currentDirectory: directory.path, timeoutSeconds: nil)
    }
}
