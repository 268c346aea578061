/// What a finished child process left behind: its exit status and everything it wrote.
public struct ProcessResult: Sendable, Equatable {
    /// The exit status (under coreutils `timeout`: 124 when it timed out, 128+9 when it had to be killed).
    public let status: Int32
    public let stdout: String
    public let stderr: String
}
