/// A failure of a `klammerctl` command: says what is wrong and what to do. ArgumentParser prints it as
/// `Error: <message>` and exits with status 1.
struct CtlError: Error, CustomStringConvertible {
    let message: String

    init(_ message: String) { self.message = message }

    var description: String { message }
}
