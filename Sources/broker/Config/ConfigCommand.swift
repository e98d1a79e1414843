// `broker config check FILE` and `broker config show`: a configuration file checked before it
// is used (every key known, every value valid), and the settings in force with their source.
import ArgumentParser
import Foundation

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Check a configuration file, or show the settings in force.",
        subcommands: [ConfigCheckCommand.self, ConfigShowCommand.self])
}

/// `--config FILE` for the commands that start processes.
struct ConfigFileOption: ParsableArguments {
    @Option(help: "A JSON configuration file (keys: `broker config show`; Docs/configuration.md). Environment variables BROKER_<KEY> override it, flags override both. Default: $BROKER_CONFIG, if set.")
    var config: String?

    func load() async throws -> BrokerConfig {
        try await BrokerConfig.load(file: config)
    }

    /// What `read` takes from the settings of a router or worker process. An invalid setting is
    /// reported as `error: <process>: …` on the first line of stdout, where `cluster up` (or
    /// the operator) reads why the process did not start, and the process exits 1.
    func settings<T>(of process: String, _ read: (BrokerConfig) throws -> T) async throws -> T {
        do {
            return try read(try await load())
        } catch let error as BrokerConfig.Invalid {
            ProcessSupport.report("error: \(process): \(error)")
            throw ExitCode.failure
        }
    }
}

struct ConfigCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check a configuration file: exits 1 naming the first unknown key or invalid value.")

    @Argument(help: "The JSON configuration file.")
    var file: String

    func run() async throws {
        do {
            let config = try await BrokerConfig.load(file: file, environment: [:])
            let present = Setting.all.filter { config.source(of: $0) != nil }
            for setting in present { _ = try config.value(of: setting) }
            print("\(file): ok (\(present.count) settings)")
        } catch let error as BrokerConfig.Invalid {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct ConfigShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show every setting in force from the configuration file and the environment, and where it comes from.")

    @OptionGroup var file: ConfigFileOption

    func run() async throws {
        do {
            let config = try await file.load()
            var rows: [[String]] = [["key", "value", "from"]]
            for setting in Setting.all {
                if let value = try config.value(of: setting), let source = config.source(of: setting) {
                    rows.append([setting.key, value.text, source])
                } else {
                    rows.append([setting.key, setting.defaultText, "default"])
                }
            }
            let widths = (0..<3).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
            }
        } catch let error as BrokerConfig.Invalid {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
