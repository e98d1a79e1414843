// Users, password hashes, vhosts and permissions as RabbitMQ's internal backend decides them.
import AMQPWire
import BrokerModel
import LinkWire
import Testing
@testable import RouterCore

@Suite("Password hashes")
struct PasswordHashTests {
    @Test("hashes exported by RabbitMQ 3.10 match their passwords and no others")
    func rabbitMQHashes() throws {
        // From `rabbitmqctl export_definitions` (Tests/Integration/fixtures/rabbitmq-3.10.8-users.json).
        let guest = try #require(PasswordHash(base64: "aPasbi5Of2nGFWvlysTk9GKSWJEX8rg1e9DV03d2wSVgeVxN", algorithm: .sha256))
        let bob = try #require(PasswordHash(base64: "iIS16IFWJ4vxjFbdHku6Vx7TAFDQjEEfTqL+tuiMCSmzf5s4", algorithm: .sha256))
        #expect(guest.matches("guest") && !guest.matches("Guest") && !guest.matches(""))
        #expect(bob.matches("secret") && !bob.matches("guest"))
        #expect(guest.base64 == "aPasbi5Of2nGFWvlysTk9GKSWJEX8rg1e9DV03d2wSVgeVxN")
    }

    @Test("a new hash is salt then SHA-256 of salt and password, as RabbitMQ computes it")
    func newHash() throws {
        let hash = PasswordHash(password: "guest", salt: [0x68, 0xf6, 0xac, 0x6e])
        #expect(hash.base64 == "aPasbi5Of2nGFWvlysTk9GKSWJEX8rg1e9DV03d2wSVgeVxN")
        let salted = PasswordHash(password: "guest")
        #expect(salted.matches("guest") && salted != PasswordHash(password: "guest"))  // a random salt each time
        for algorithm in PasswordHash.Algorithm.allCases {
            let other = PasswordHash(password: "pw", algorithm: algorithm)
            #expect(PasswordHash(base64: other.base64, algorithm: algorithm)?.matches("pw") == true)
        }
    }

    @Test("text that is not base64 of a salt and a digest of the right length is refused")
    func malformed() {
        #expect(PasswordHash(base64: "", algorithm: .sha256) == nil)
        #expect(PasswordHash(base64: "not base64!", algorithm: .sha256) == nil)
        #expect(PasswordHash(base64: "aPasbi5Of2nGFWvlysTk9GKSWJEX8rg1e9DV03d2wSVgeVxN", algorithm: .sha512) == nil)
        #expect(Base64.decode("YWI=") == Array("ab".utf8) && Base64.encode(Array("ab".utf8)) == "YWI=")
    }
}

@Suite("Access control")
struct AccessControlTests {
    static let bob = VHostPermissions(configure: PermissionPattern("^bob")!, write: PermissionPattern("^bob|amq\\.direct")!,
                                      read: PermissionPattern("")!)

    static func access() -> AccessControl {
        var access = AccessControl()
        access.addVHost(VHost("v2"))
        access.putUser(UserRecord(name: "bob", passwordHash: PasswordHash(password: "secret"), tags: []))
        access.setPermissions(bob, user: "bob", vhost: .default)
        return access
    }

    @Test("patterns are searched unanchored; an empty one allows nothing; a bad one is refused")
    func patterns() {
        #expect(PermissionPattern("ob")!.matches("bob") && !PermissionPattern("^ob")!.matches("bob"))
        #expect(!PermissionPattern("")!.matches("") && PermissionPattern(".*")!.matches(""))
        #expect(PermissionPattern("^(a|b)\\d+$")!.matches("a12") && !PermissionPattern("^(a|b)\\d+$")!.matches("c12"))
        #expect(PermissionPattern("(") == nil)
    }

    @Test("a vhost opens only with a permission entry there; the texts are RabbitMQ's")
    func vhosts() {
        let access = Self.access()
        #expect(access.vhostRefusal(user: "bob", vhost: .default) == nil)
        #expect(access.vhostRefusal(user: "bob", vhost: VHost("v2")) == "access to vhost 'v2' refused for user 'bob'")
        #expect(access.vhostRefusal(user: "bob", vhost: VHost("nope")) == "vhost nope not found")
    }

    @Test("logins check the hash, then loopback-only users; a user without a password cannot log in")
    func logins() {
        var access = Self.access()
        #expect(access.refusal(user: "bob", password: "secret", fromLoopback: false) == nil)
        #expect(access.refusal(user: "bob", password: "guest", fromLoopback: true) == .wrongCredentials)
        #expect(access.refusal(user: "guest", password: "guest", fromLoopback: false) == .loopbackOnly("guest"))
        access.putUser(UserRecord(name: "bob", passwordHash: nil, tags: []))
        #expect(access.refusal(user: "bob", password: "x", fromLoopback: true) == .wrongCredentials)
        // A blank password never logs in, even when it is the one hashed (RabbitMQ's rule).
        access.putUser(UserRecord(name: "bob", passwordHash: PasswordHash(password: ""), tags: []))
        #expect(access.refusal(user: "bob", password: "", fromLoopback: true) == .blankPassword("bob"))
    }

    @Test("a refusal names the resource as RabbitMQ does, the default exchange as amq.default")
    func refusals() {
        let access = Self.access()
        #expect(access.refusal("bob", .configure, .queue, "bobq", in: .default) == nil)
        #expect(access.refusal("bob", .write, .exchange, "amq.direct", in: .default) == nil)
        #expect(access.refusal("bob", .write, .exchange, "", in: .default)?.text
            == "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'bob'")
        #expect(access.refusal("bob", .read, .queue, "bobq", in: .default)?.code == .accessRefused)
        #expect(access.refusal("bob", .read, .queue, "bobq", in: VHost("v2")) != nil)
    }

    @Test("deleting a user or a vhost takes its permissions; configured users are updated, not duplicated")
    func changes() {
        var access = Self.access()
        access.apply(configured: [ConfiguredUser(name: "bob", password: "new", tags: ["management"])])
        #expect(access.refusal(user: "bob", password: "new", fromLoopback: true) == nil)
        #expect(access.permissions[.default]?["bob"] == Self.bob)  // kept: it had some
        #expect(access.isManagementUser("bob") && !access.isAdministrator("bob"))
        #expect(access.setPermissions(.all, user: "nobody", vhost: .default) == nil)
        #expect(access.setPermissions(.all, user: "bob", vhost: VHost("none")) == nil)
        #expect(access.setPermissions(.all, user: "bob", vhost: VHost("v2")) == true)
        #expect(access.deleteUser("bob") && !access.deleteUser("bob"))
        #expect(access.permissionList.map(\.user) == ["guest"])
        #expect(access.deleteVHost(.default) && access.permissionList.isEmpty && access.vhosts == [VHost("v2")])
    }

    @Test("users, vhosts and permissions are saved with the topology; a version 1 file has none")
    func durable() throws {
        var topology = Topology()
        topology.access = Self.access()
        topology.addVHost(VHost("v2"))
        topology.access.putUser(UserRecord(name: "tagged", passwordHash: nil, tags: ["a,b", "management"]))
        #expect(topology.access.setLimit(.maxConnections, 3, vhost: VHost("v2")) && !topology.access.setLimit(.maxQueues, 1, vhost: VHost("none")))
        let part = topology.durablePart
        let decoded = try DurableTopology(decoding: part.encoded())
        #expect(decoded == part)
        var restored = Topology()
        try restored.restore(decoded)
        #expect(restored.vhostNames == [.default, VHost("v2")])
        #expect(restored.access.refusal(user: "bob", password: "secret", fromLoopback: true) == nil)
        #expect(restored.access.permissions[.default]?["bob"] == Self.bob)
        #expect(restored.exchange(ExchangeName("amq.topic"), in: VHost("v2")) != nil)
        #expect(restored.access.limits == [VHost("v2"): VHostLimits(maxConnections: 3)])
        #expect(restored.access.users["tagged"]?.tags == ["a,b", "management"] && restored.access.users["tagged"]?.passwordHash == nil)
        // Version 1: the same bytes without the access lists.
        var old = DurableTopology()
        old.queues = part.queues
        var bytes = old.encoded()
        bytes.setInteger(UInt16(1), at: 8)
        bytes.moveWriterIndex(to: bytes.writerIndex - 16)
        #expect(try DurableTopology(decoding: bytes).access == nil)
    }
}

@Suite("Permissions in channel methods")
struct ChannelPermissionTests {
    let channel = RouterChannel(number: ChannelNumber(1))
    var requests = RequestTable()
    let environment: ChannelEnvironment = {
        var topology = Topology()
        topology.access = AccessControlTests.access()
        return ChannelEnvironment(connection: ConnectionID(7), vhost: .default, partitions: 4, topology: topology, user: "bob")
    }()

    mutating func refusal(_ method: AMQPMethod) -> String? {
        for action in channel.receive(method, in: environment, requests: &requests) {
            if case .fail(.accessRefused, let text) = action { return text }
        }
        return nil
    }

    @Test("declares need configure; passive ones nothing; a new queue's dead-letter exchange needs write")
    mutating func declares() {
        #expect(refusal(.queueDeclare(QueueDeclare(queue: "q"))) == "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'bob'")
        #expect(refusal(.queueDeclare(QueueDeclare(queue: "q", passive: true))) == nil)
        #expect(refusal(.queueDeclare(QueueDeclare(queue: "bobq"))) == nil)
        #expect(refusal(.queueDeclare(QueueDeclare(queue: "bobq2", arguments: ["x-dead-letter-exchange": .longString(Array("dlx".utf8))])))
            == "ACCESS_REFUSED - access to queue 'bobq2' in vhost '/' refused for user 'bob'")  // read on the queue first
        #expect(refusal(.exchangeDeclare(ExchangeDeclare(exchange: "x", type: "direct")))
            == "ACCESS_REFUSED - access to exchange 'x' in vhost '/' refused for user 'bob'")
        #expect(refusal(.exchangeDeclare(ExchangeDeclare(exchange: "x", type: "direct", passive: true))) == nil)
    }

    @Test("consume, get and purge need read; delete needs configure; bind needs write on the queue and read on the exchange")
    mutating func operations() {
        let text = "ACCESS_REFUSED - access to queue 'bobq' in vhost '/' refused for user 'bob'"
        #expect(refusal(.basicConsume(BasicConsume(queue: "bobq"))) == text)
        #expect(refusal(.basicGet(BasicGet(queue: "bobq"))) == text)
        #expect(refusal(.queuePurge(QueuePurge(queue: "bobq"))) == text)
        #expect(refusal(.queueDelete(QueueDelete(queue: "bobq"))) == nil)
        #expect(refusal(.queueDelete(QueueDelete(queue: "q"))) != nil)
        #expect(refusal(.queueBind(QueueBind(queue: "bobq", exchange: "amq.direct", routingKey: "k")))
            == "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'bob'")
        #expect(refusal(.queueBind(QueueBind(queue: "q", exchange: "amq.direct", routingKey: "k")))
            == "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'bob'")
    }
}
