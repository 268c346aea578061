import Logging

extension Klammerd {
    /// Sends every logger of the process to standard error at `levelName` (`trace` … `critical`; anything else means
    /// `info`) and returns the daemon's own logger. Dev and production mode both start this way; call it once.
    static func bootstrapLogging(levelName: String) -> Logger {
        let level = Logger.Level(rawValue: levelName) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "klammerd")
    }
}
