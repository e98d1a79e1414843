// `broker ctl` for users, vhosts and permissions, with rabbitmqctl's command names and
// arguments: add_user, delete_user, change_password, set_user_tags, list_users, add_vhost,
// delete_vhost, list_vhosts, set_permissions, clear_permissions, list_permissions,
// list_user_permissions, set_vhost_limits, clear_vhost_limits, list_vhost_limits. Each is one management API request over the operator socket.
import ArgumentParser
import BrokerTelemetry
import Foundation

enum CtlAccess {
    static let commands: [ParsableCommand.Type] = [
        AddUser.self, DeleteUser.self, ChangePassword.self, SetUserTags.self, ListUsers.self, AddVHost.self, DeleteVHost.self,
        ListVHosts.self, SetPermissions.self, ClearPermissions.self, ListPermissions.self, ListUserPermissions.self,
        SetVHostLimits.self, ClearVHostLimits.self, ListVHostLimits.self,
    ]

    static let limitNames = ["max-connections", "max-queues"]

    static func body(_ fields: [(String, JSON)]) -> Data { Data(JSON.object(fields.map { (key: $0.0, value: $0.1) }).text.utf8) }

    static func user(_ name: String) -> String { "users/" + OperatorClient.encode(name) }

    /// The user as the API has it (to keep its password when only the tags change).
    static func existingUser(_ ctl: CtlOptions, _ name: String) throws -> JSON {
        let body = try ctl.call("GET", user(name))
        guard let user = try? JSONDecoder().decode(JSON.self, from: body) else { throw ExitCode.failure }
        return user
    }

    struct AddUser: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add_user", abstract: "Create a user (no permissions until set_permissions).")
        @OptionGroup var ctl: CtlOptions
        @Argument var username: String
        @Argument var password: String

        func run() throws {
            if (try? ctl.client.request("GET", "/api/" + user(username)))?.status == 200 {
                FileHandle.standardError.write(Data("error: user '\(username)' already exists\n".utf8))
                throw ExitCode.failure
            }
            _ = try ctl.call("PUT", user(username), body: body([("password", .string(password)), ("tags", .string(""))]))
            print("added user '\(username)'")
        }
    }

    struct DeleteUser: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete_user", abstract: "Delete a user and its permissions.")
        @OptionGroup var ctl: CtlOptions
        @Argument var username: String

        func run() throws {
            _ = try ctl.call("DELETE", user(username))
            print("deleted user '\(username)'")
        }
    }

    struct ChangePassword: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "change_password", abstract: "Change a user's password.")
        @OptionGroup var ctl: CtlOptions
        @Argument var username: String
        @Argument var password: String

        func run() throws {
            let tags = try existingUser(ctl, username)["tags"] ?? .array([])
            _ = try ctl.call("PUT", user(username), body: body([("password", .string(password)), ("tags", tags)]))
            print("changed the password of user '\(username)'")
        }
    }

    struct SetUserTags: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set_user_tags", abstract: "Replace a user's tags (administrator, monitoring, management …).")
        @OptionGroup var ctl: CtlOptions
        @Argument var username: String
        @Argument var tags: [String] = []

        func run() throws {
            let existing = try existingUser(ctl, username)
            let fields: [(String, JSON)] = [
                ("password_hash", existing["password_hash"] ?? .string("")),
                ("hashing_algorithm", existing["hashing_algorithm"] ?? .string("")), ("tags", .array(tags.map(JSON.string))),
            ]
            _ = try ctl.call("PUT", user(username), body: body(fields))
            print("set the tags of user '\(username)' to [\(tags.joined(separator: ", "))]")
        }
    }

    struct ListUsers: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_users", abstract: "List users and their tags.")
        @OptionGroup var ctl: CtlOptions

        func run() throws { try printTable(ctl, "users", columns: ["name", "tags"]) }
    }

    struct AddVHost: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add_vhost", abstract: "Create a virtual host.")
        @OptionGroup var ctl: CtlOptions
        @Argument var vhost: String

        func run() throws {
            _ = try ctl.call("PUT", "vhosts/" + OperatorClient.encode(vhost))
            print("added vhost '\(vhost)'")
        }
    }

    struct DeleteVHost: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete_vhost", abstract: "Delete a virtual host with its queues, exchanges and permissions; its connections are closed.")
        @OptionGroup var ctl: CtlOptions
        @Argument var vhost: String

        func run() throws {
            _ = try ctl.call("DELETE", "vhosts/" + OperatorClient.encode(vhost))
            print("deleted vhost '\(vhost)'")
        }
    }

    struct ListVHosts: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_vhosts", abstract: "List virtual hosts.")
        @OptionGroup var ctl: CtlOptions

        func run() throws { try printTable(ctl, "vhosts", columns: ["name", "messages"]) }
    }

    struct SetPermissions: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set_permissions", abstract: "Set a user's configure, write and read patterns in a vhost.")
        @OptionGroup var ctl: CtlOptions
        @Option(name: .short, help: "The virtual host.") var p = "/"
        @Argument var username: String
        @Argument var configure: String
        @Argument var write: String
        @Argument var read: String

        func run() throws {
            let fields: [(String, JSON)] = [("configure", .string(configure)), ("write", .string(write)), ("read", .string(read))]
            _ = try ctl.call("PUT", "permissions/\(OperatorClient.encode(p))/\(OperatorClient.encode(username))", body: body(fields))
            print("set permissions of user '\(username)' in vhost '\(p)'")
        }
    }

    struct ClearPermissions: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "clear_permissions", abstract: "Remove a user's permissions in a vhost.")
        @OptionGroup var ctl: CtlOptions
        @Option(name: .short, help: "The virtual host.") var p = "/"
        @Argument var username: String

        func run() throws {
            _ = try ctl.call("DELETE", "permissions/\(OperatorClient.encode(p))/\(OperatorClient.encode(username))")
            print("cleared permissions of user '\(username)' in vhost '\(p)'")
        }
    }

    struct ListPermissions: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_permissions", abstract: "List the permissions in a vhost.")
        @OptionGroup var ctl: CtlOptions
        @Option(name: .short, help: "The virtual host.") var p = "/"

        func run() throws {
            try printTable(ctl, "vhosts/\(OperatorClient.encode(p))/permissions", columns: ["user", "configure", "write", "read"])
        }
    }

    struct ListUserPermissions: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_user_permissions", abstract: "List a user's permissions in every vhost.")
        @OptionGroup var ctl: CtlOptions
        @Argument var username: String

        func run() throws {
            try printTable(ctl, user(username) + "/permissions", columns: ["vhost", "configure", "write", "read"])
        }
    }

    struct SetVHostLimits: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set_vhost_limits", abstract: "Set a vhost's limits: '{\"max-connections\": N, \"max-queues\": N}' (negative: none).")
        @OptionGroup var ctl: CtlOptions
        @Option(name: .short, help: "The virtual host.") var p = "/"
        @Argument var definition: String

        func run() throws {
            guard let limits = try? JSONDecoder().decode(JSON.self, from: Data(definition.utf8)), case .object(let fields) = limits,
                  !fields.isEmpty else {
                FileHandle.standardError.write(Data("error: limits are a JSON object such as {\"max-connections\": 10}\n".utf8))
                throw ExitCode.failure
            }
            for (name, value) in fields {
                _ = try ctl.call("PUT", "vhost-limits/\(OperatorClient.encode(p))/\(OperatorClient.encode(name))", body: body([("value", value)]))
            }
            print("set limits of vhost '\(p)'")
        }
    }

    struct ClearVHostLimits: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "clear_vhost_limits", abstract: "Remove every limit of a vhost.")
        @OptionGroup var ctl: CtlOptions
        @Option(name: .short, help: "The virtual host.") var p = "/"

        func run() throws {
            for name in limitNames { _ = try ctl.call("DELETE", "vhost-limits/\(OperatorClient.encode(p))/\(name)") }
            print("cleared limits of vhost '\(p)'")
        }
    }

    struct ListVHostLimits: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list_vhost_limits", abstract: "List vhosts' limits.")
        @OptionGroup var ctl: CtlOptions

        func run() throws { try printTable(ctl, "vhost-limits", columns: ["vhost", "value"]) }
    }

    static func printTable(_ ctl: CtlOptions, _ path: String, columns: [String]) throws {
        let rows = (try? JSONDecoder().decode(JSON.self, from: try ctl.call("GET", path)))?.arrayValue ?? []
        print(CtlTable(columns: columns, rows: rows).text, terminator: "")
    }
}
