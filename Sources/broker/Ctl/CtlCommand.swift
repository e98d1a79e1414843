// `broker ctl`: day-to-day operations on a running cluster of this host, modelled on
// rabbitmqctl (its command names) and served by the router's management API over the
// operator socket in the runtime directory, so it needs no port, user or password.
import ArgumentParser
import BrokerManagement
import BrokerTelemetry
import Foundation
import RouterServer

struct CtlCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Operate a running cluster of this host: list, purge, delete, close, users, vhosts, permissions, definitions.",
        subcommands: [
            CtlList.Queues.self, CtlList.Exchanges.self, CtlList.Bindings.self, CtlList.Connections.self,
            CtlList.Channels.self, CtlList.Consumers.self, CtlPurgeQueue.self, CtlDeleteQueue.self,
            CtlCloseConnection.self, CtlExportDefinitions.self, CtlImportDefinitions.self,
        ] + CtlAccess.commands)
}

struct CtlOptions: ParsableArguments {
    @Option(help: "The cluster's runtime directory; default: that of `cluster up` ($XDG_RUNTIME_DIR/broker or /tmp/broker-<uid>), else /run/broker (systemd).")
    var runtimeDir: String?

    var client: OperatorClient {
        let name = RouterServer.operatorSocketName
        if let runtimeDir { return OperatorClient(socketPath: "\(runtimeDir)/\(name)") }
        let local = "\(ClusterDirectory.defaultRuntimeDirectory)/\(name)"
        let systemd = "/run/broker/\(name)"
        return OperatorClient(socketPath: !FileManager.default.fileExists(atPath: local)
                              && FileManager.default.fileExists(atPath: systemd) ? systemd : local)
    }

    /// The answer's body when the API accepted the request; otherwise its reason, and exit 1.
    func call(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) throws -> Data {
        let response: OperatorClient.Response
        do {
            response = try client.request(method, "/api/" + path, body: body, headers: headers)
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode.failure
        }
        guard (200..<300).contains(response.status) else {
            let answer = try? JSONDecoder().decode(JSON.self, from: response.body)
            let reason = answer?["reason"]?.stringValue ?? String(decoding: response.body, as: UTF8.self)
            FileHandle.standardError.write(Data("error: \(reason) (HTTP \(response.status) to \(method) /api/\(path))\n".utf8))
            throw ExitCode.failure
        }
        return response.body
    }
}

/// The list commands: the API's JSON as is (`--json`) or a table of chosen fields.
enum CtlList {
    struct Options: ParsableArguments {
        @OptionGroup var ctl: CtlOptions
        @Option(help: "Only this virtual host.")
        var vhost: String?
        @Flag(help: "Print the management API's JSON instead of a table.")
        var json = false

        func list(_ collection: String, columns: [String]) throws {
            let path = vhost.map { "\(collection)/\(OperatorClient.encode($0))" } ?? collection
            let body = try ctl.call("GET", path)
            if json {
                print(String(decoding: body, as: UTF8.self))
                return
            }
            let rows = (try? JSONDecoder().decode(JSON.self, from: body))?.arrayValue ?? []
            print(CtlTable(columns: columns, rows: rows).text, terminator: "")
        }
    }

    struct Queues: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_queues", abstract: "List queues and their message counts.")
        @OptionGroup var options: Options
        func run() throws {
            try options.list("queues", columns: ["vhost", "name", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable"])
        }
    }

    struct Exchanges: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_exchanges", abstract: "List exchanges.")
        @OptionGroup var options: Options
        func run() throws { try options.list("exchanges", columns: ["vhost", "name", "type", "durable", "auto_delete"]) }
    }

    struct Bindings: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_bindings", abstract: "List bindings.")
        @OptionGroup var options: Options
        func run() throws {
            try options.list("bindings", columns: ["vhost", "source", "destination", "destination_type", "routing_key"])
        }
    }

    struct Connections: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_connections", abstract: "List client connections.")
        @OptionGroup var options: Options
        func run() throws {
            try options.list("connections", columns: ["name", "user", "vhost", "channels", "state"])
        }
    }

    struct Channels: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_channels", abstract: "List channels.")
        @OptionGroup var options: Options
        func run() throws {
            try options.list("channels", columns: ["name", "user", "vhost", "consumer_count", "messages_unacknowledged", "prefetch_count"])
        }
    }

    struct Consumers: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_consumers", abstract: "List consumers.")
        @OptionGroup var options: Options
        func run() throws {
            try options.list("consumers", columns: ["vhost=queue.vhost", "queue=queue.name", "consumer_tag", "channel=channel_details.name",
                                                    "ack_required", "prefetch_count", "exclusive"])
        }
    }
}

struct CtlPurgeQueue: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "purge_queue", abstract: "Remove every ready message of a queue.")
    @OptionGroup var ctl: CtlOptions
    @Argument(help: "The queue.") var queue: String
    @Option(help: "Its virtual host.") var vhost = "/"

    func run() throws {
        _ = try ctl.call("DELETE", "queues/\(OperatorClient.encode(vhost))/\(OperatorClient.encode(queue))/contents")
        print("purged queue '\(queue)' in vhost '\(vhost)'")
    }
}

struct CtlDeleteQueue: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete_queue", abstract: "Delete a queue.")
    @OptionGroup var ctl: CtlOptions
    @Argument(help: "The queue.") var queue: String
    @Option(help: "Its virtual host.") var vhost = "/"
    @Flag(name: .customLong("if-empty"), help: "Only if it holds no messages.") var ifEmpty = false
    @Flag(name: .customLong("if-unused"), help: "Only if it has no consumers.") var ifUnused = false

    func run() throws {
        var conditions: [String] = []
        if ifEmpty { conditions.append("if-empty=true") }
        if ifUnused { conditions.append("if-unused=true") }
        let query = conditions.isEmpty ? "" : "?" + conditions.joined(separator: "&")
        _ = try ctl.call("DELETE", "queues/\(OperatorClient.encode(vhost))/\(OperatorClient.encode(queue))\(query)")
        print("deleted queue '\(queue)' in vhost '\(vhost)'")
    }
}

struct CtlCloseConnection: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close_connection", abstract: "Close a client connection (320 CONNECTION_FORCED with the reason).")
    @OptionGroup var ctl: CtlOptions
    @Argument(help: "The connection's name, as list_connections shows it.") var name: String
    @Argument(help: "The reason the client is told.") var reason = "Closed via broker ctl"

    func run() throws {
        _ = try ctl.call("DELETE", "connections/\(OperatorClient.encode(name))", headers: ["X-Reason": reason])
        print("closed connection '\(name)'")
    }
}

struct CtlExportDefinitions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export_definitions", abstract: "Write the users, vhosts, permissions, exchanges, queues and bindings in RabbitMQ's definitions format.")
    @OptionGroup var ctl: CtlOptions
    @Argument(help: "The file to write, or - for standard output.") var file: String

    func run() throws {
        let body = try ctl.call("GET", "definitions")
        if file == "-" {
            FileHandle.standardOutput.write(body)
        } else {
            try body.write(to: URL(fileURLWithPath: file))
            print("exported definitions to \(file)")
        }
    }
}

struct CtlImportDefinitions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import_definitions", abstract: "Create the users, vhosts, permissions, exchanges, queues and bindings of a definitions file (RabbitMQ's format).")
    @OptionGroup var ctl: CtlOptions
    @Argument(help: "The file to read, or - for standard input.") var file: String

    func run() throws {
        let body = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        _ = try ctl.call("POST", "definitions", body: body)
        print("imported definitions from \(file)")
    }
}

/// Rows of JSON objects as aligned columns. A column "key" shows the field `key` under that
/// heading; "heading=a.b" shows the field b inside the object a under "heading".
struct CtlTable {
    var columns: [String]
    var rows: [JSON]

    var text: String {
        let fields = columns.map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
        let cells = [fields.map { $0[0] }] + rows.map { row in fields.map { Self.cell(row, $0[$0.count - 1]) } }
        let widths = columns.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        return cells.map { line in
            var text = zip(line, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            while text.last == " " { text.removeLast() }
            return text
        }.joined(separator: "\n") + "\n"
    }

    static func cell(_ row: JSON, _ column: String) -> String {
        var value: JSON? = row
        for key in column.split(separator: ".") { value = value?[String(key)] }
        switch value {
        case nil, .null?: return ""
        case .string(let text)?: return text
        case let other?: return other.text
        }
    }
}
