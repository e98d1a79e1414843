// SIGHUP: the settings that can change without a restart are read again from the
// configuration file and the environment (flags given at start still win): the log level in
// every process, and the users in the router (new connections log in against them). An
// invalid file changes nothing and says why.
import Logging

enum Reload {
    /// Reads the configuration again and applies the log level and then `more` (the
    /// process's own reloadable settings, returning what to log about them).
    static func apply(file: ConfigFileOption, logging: LoggingOptions, logger: Logger,
                      more: (BrokerConfig) throws -> Logger.Metadata) async {
        do {
            let config = try await file.load()
            let level = try logging.level(config)
            var metadata = try more(config)
            ProcessLogLevel.set(level)
            metadata["log_level"] = "\(level)"
            logger.info("configuration reloaded", metadata: metadata)
        } catch {
            logger.error("configuration not reloaded; the settings in force stay", metadata: ["error": "\(error)"])
        }
    }
}
