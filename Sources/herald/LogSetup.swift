import Logging
import Synchronization

/// Where logs go: stderr, at `--log-level` / `HERALD_LOG_LEVEL` (default `info`).
enum LogSetup {
    private static let bootstrapped = Mutex(false)

    /// Bootstraps logging once per process and returns Herald's logger.
    static func bootstrap(level: String? = nil) -> Logger {
        let levelName = level ?? Environment.value("log-level") ?? "info"
        let logLevel = Logger.Level(rawValue: levelName.lowercased()) ?? .info
        self.bootstrapped.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = logLevel
                return handler
            }
        }
        var logger = Logger(label: "herald")
        logger.logLevel = logLevel
        return logger
    }
}
