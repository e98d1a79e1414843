// swift-tools-version:6.1
// The broker: one router process speaking AMQP 0-9-1 to clients, N worker processes each
// owning a hash partition of the queues, linked by HTTP/2 (libnghttp2) over Unix sockets.
// Dependency edges point down only: broker → servers → link → cores → wire → model.
import PackageDescription

let package = Package(
    name: "broker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "broker", targets: ["broker"]),
        .executable(name: "micro-bench", targets: ["MicroBench"]),
        .executable(name: "broker-fuzz", targets: ["BrokerFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Settings from a JSON file and BROKER_* environment variables (default trait JSON only).
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        // TLS for AMQP (amqps) and the telemetry port.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        .target(name: "BrokerModel"),
        .target(name: "AMQPWire", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
        ], exclude: ["Generator"]),
        .target(name: "LinkWire", dependencies: [
            "BrokerModel", "AMQPWire",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "BrokerTelemetry"),
        .target(name: "PartitionEngine", dependencies: [
            "BrokerModel", "AMQPWire", "LinkWire", "BrokerTelemetry",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "HeapModule", package: "swift-collections"),
        ]),
        // The system libcrypto, for RabbitMQ's salted password hashes (no TLS here).
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "RouterCore", dependencies: [
            "BrokerModel", "AMQPWire", "LinkWire", "CLibCrypto",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .target(name: "CCRC32C"),
        // The operating system's files: POSIX operations, atomic replacement, /proc/self.
        .target(name: "SystemFiles", dependencies: [
            "BrokerTelemetry",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "MessageStore", dependencies: [
            "BrokerModel", "LinkWire", "PartitionEngine", "CCRC32C", "SystemFiles",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .systemLibrary(
            name: "CNGHTTP2",
            pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]
        ),
        .target(name: "LinkHTTP2", dependencies: [
            "CNGHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "ClusterCoordination", dependencies: [
            "LinkTransport",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "LinkTransport", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .target(name: "WorkerServer", dependencies: [
            "BrokerModel", "LinkWire", "PartitionEngine", "MessageStore", "SystemFiles", "LinkHTTP2", "BrokerTelemetry",
            "LinkTransport",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // /metrics, /health, the management API and the dashboard; knows the router only
        // through its ManagementBackend protocol. The dashboard's files are embedded at build time.
        .executableTarget(name: "EmbedFiles"),
        .plugin(name: "EmbedFilesPlugin", capability: .buildTool(), dependencies: ["EmbedFiles"], path: "Sources/EmbedFilesPlugin"),
        // RabbitMQ's definitions documents read into typed values (no I/O; fuzzed).
        .target(name: "Definitions", dependencies: ["AMQPWire", "BrokerModel", "BrokerTelemetry", "RouterCore"]),
        .target(name: "BrokerManagement", dependencies: [
            "BrokerModel", "AMQPWire", "LinkWire", "RouterCore", "BrokerTelemetry", "SystemFiles", "Definitions",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["Dashboard"], plugins: ["EmbedFilesPlugin"]),
        .target(name: "RouterServer", dependencies: [
            "BrokerModel", "AMQPWire", "LinkWire", "RouterCore", "LinkHTTP2", "BrokerTelemetry", "SystemFiles",
            "BrokerManagement", "CLibCrypto", "LinkTransport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .target(name: "BrokerPerf", dependencies: [
            "AMQPWire",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .executableTarget(name: "broker", dependencies: [
            "BrokerModel", "RouterCore", "RouterServer", "WorkerServer", "BrokerPerf", "BrokerManagement", "BrokerTelemetry",
            "LinkTransport", "ClusterCoordination",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "Configuration", package: "swift-configuration"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Fuzz targets (libFuzzer with -DFUZZING -sanitize=fuzzer; otherwise a corpus replay):
        // Tests/Fuzz/run.sh.
        .executableTarget(name: "BrokerFuzz", dependencies: [
            "AMQPWire", "LinkWire", "MessageStore", "Definitions", "BrokerTelemetry",
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        // Micro-benchmarks with allocation counts (`swift run -c release micro-bench`); the malloc
        // interposer is linked into this executable only.
        .target(name: "CMallocCounter"),
        .executableTarget(name: "MicroBench", dependencies: [
            "AMQPWire", "BrokerModel", "LinkWire", "MessageStore", "PartitionEngine", "RouterCore", "CMallocCounter",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Seeded generators and helpers shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "BrokerModelTests", dependencies: ["BrokerModel"]),
        .testTarget(name: "AMQPWireTests", dependencies: ["AMQPWire", "TestSupport"]),
        .testTarget(name: "LinkWireTests", dependencies: ["LinkWire", "AMQPWire"]),
        .testTarget(name: "PartitionEngineTests", dependencies: ["PartitionEngine", "BrokerTelemetry", "TestSupport"]),
        .testTarget(name: "MessageStoreTests", dependencies: [
            "MessageStore", "PartitionEngine", "LinkWire", "BrokerModel", "BrokerTelemetry", "SystemFiles",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "RouterCoreTests", dependencies: ["RouterCore", "AMQPWire", "BrokerModel", "TestSupport"]),
        .testTarget(name: "RouterServerTests", dependencies: [
            "RouterServer", "RouterCore", "AMQPWire", "BrokerModel",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "BrokerPerfTests", dependencies: ["BrokerPerf"]),
        .testTarget(name: "LinkTransportTests", dependencies: ["LinkTransport"]),
        .testTarget(name: "LinkHTTP2Tests", dependencies: [
            "LinkHTTP2",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
