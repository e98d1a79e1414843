// /api/overview, /api/nodes, /api/vhosts (reading), /api/whoami, health
// checks and /api/profile.
//
// Versions: product_name is "broker" and product_version the broker's own, but
// rabbitmq_version (and management_version) say "3.10.8", the RabbitMQ release whose
// behaviour the broker follows, because tools parse that field as a RabbitMQ version to pick
// features (rabbitmqadmin, monitoring plugins, client test suites).
//
// Node: the whole cluster of processes is shown as one RabbitMQ node, "broker@<host>", with
// mem_used and fd_used summed over the router and every worker. RabbitMQ's `partitions`
// field lists network partitions (monitoring checks alert when it is not empty), so it stays
// []; the per-worker figures are in an extra field, `workers`.
import BrokerModel
import BrokerTelemetry
import Foundation
import NIOCore
import NIOHTTP1
import SystemFiles

extension ManagementAPI {
    func routeOverview(_ call: Call) -> EventLoopFuture<HTTPReply>? {
        if call.match(.GET, "overview") != nil { return overview() }
        if call.match(.GET, "nodes") != nil { return nodes().map { Self.ok(.array($0)) } }
        if let name = call.match(.GET, "nodes/*")?[0] {
            return nodes().map { nodes in nodes.first { $0["name"]?.stringValue == name }.map(Self.ok) ?? Self.notFound }
        }
        if call.match(.GET, "vhosts") != nil { return vhostList().map { Self.ok(.array($0)) } }
        if let name = call.match(.GET, "vhosts/*")?[0] {
            return vhostList().map { list in list.first { $0["name"]?.stringValue == name }.map(Self.ok) ?? Self.notFound }
        }
        if call.match(.GET, "whoami") != nil {
            let tags = backend.topology.access.tags(of: call.user)
            return succeed(call, Self.ok(["name": .string(call.user), "tags": .array(tags.map(JSON.string))]))
        }
        if call.match(.GET, "health/checks/alarms") != nil { return succeed(call, alarmsCheck()) }
        if call.match(.GET, "healthchecks/node") != nil || call.match(.GET, "aliveness-test/*") != nil {
            return healthCheck()
        }
        if call.match(.GET, "profile") != nil {
            let seconds = min(60, max(1, Int(call.request.query["seconds"] ?? "") ?? 5))
            return telemetry.profile(seconds: seconds).map { .json($0) }
        }
        return nil
    }

    private func overview() -> EventLoopFuture<HTTPReply> {
        let topology = backend.topology
        return telemetry.routerSnapshot().and(telemetry.workers()).map { [telemetry] router, workers in
            var acked: UInt64 = 0, redelivered: UInt64 = 0, ready = 0, unacked = 0
            for stats in workers.compactMap(\.stats) {
                acked &+= stats.counters.acked
                redelivered &+= stats.counters.redelivered
                for queue in stats.queues {
                    ready += queue.ready
                    unacked += queue.unacked
                }
            }
            let counters: [(String, UInt64)] = [
                ("ack", acked), ("confirm", router.confirmed), ("deliver_get", router.delivered),
                ("drop_unroutable", router.unroutable &- min(router.unroutable, router.returned)),
                ("publish", router.published), ("redeliver", redelivered), ("return_unroutable", router.returned),
            ]
            let gauges: [(String, Int)] = [("messages", ready + unacked), ("messages_ready", ready), ("messages_unacknowledged", unacked)]
            var values: [String: Double] = [:]
            for (key, value) in counters { values[key] = Double(value) }
            for (key, value) in gauges { values[key] = Double(value) }
            let rates = telemetry.rates(of: values)
            func withRates(_ pairs: [(String, JSON)]) -> JSON {
                .object(pairs.flatMap { key, value -> [(key: String, value: JSON)] in
                    [(key: key, value: value), (key: key + "_details", value: ["rate": .double(rates[key] ?? 0)])]
                })
            }
            let exchanges = topology.vhostNames.reduce(0) { $0 + topology.exchanges(in: $1).count }
            let queues = topology.vhostNames.reduce(0) { $0 + topology.queues(in: $1).count }
            let listeners: [JSON] = telemetry.listeners.map { listener in
                ["node": .string(Self.nodeName), "protocol": .string(listener.protocolName),
                 "ip_address": .string(listener.ipAddress), "port": .int(listener.port)]
            }
            let overview: JSON = [
                "management_version": .string(BrokerVersion.rabbitmq),
                "rates_mode": "basic",
                "exchange_types": .array(["direct", "fanout", "headers", "topic", "x-delayed-message"].map { name in
                    ["name": .string(name), "description": "", "enabled": true]
                }),
                "product_version": .string(BrokerVersion.string),
                "product_name": "broker",
                "rabbitmq_version": .string(BrokerVersion.rabbitmq),
                "cluster_name": .string(Self.nodeName),
                "disable_stats": false,
                "message_stats": withRates(counters.map { ($0.0, JSON.int($0.1)) }),
                "queue_totals": withRates(gauges.map { ($0.0, JSON.int($0.1)) }),
                "object_totals": [
                    "channels": .int(router.channels), "connections": .int(router.connections),
                    "consumers": .int(router.consumers), "exchanges": .int(exchanges), "queues": .int(queues),
                ],
                "statistics_db_event_queue": 0,
                "node": .string(Self.nodeName),
                "listeners": .array(listeners),
            ]
            return Self.ok(overview)
        }
    }

    private func nodes() -> EventLoopFuture<[JSON]> {
        telemetry.routerSnapshot().and(telemetry.workers()).map { [telemetry, backend] router, workers in
            let routerFigures = ProcessFigures.current()
            var memory = routerFigures.residentBytes, descriptors = routerFigures.openFileDescriptors
            var perWorker: [JSON] = []
            for worker in workers {
                var entry: [(key: String, value: JSON)] = [
                    ("partition", .int(worker.partition)), ("process", .string("worker-\(worker.partition)")),
                    ("running", .bool(worker.linked)),
                ]
                if let stats = worker.stats {
                    memory += stats.process.residentBytes
                    descriptors += stats.process.openFileDescriptors
                    entry += [
                        ("mem_used", .int(stats.process.residentBytes)), ("fd_used", .int(stats.process.openFileDescriptors)),
                        ("cpu_seconds", .double(stats.process.cpuSeconds)), ("queues", .int(stats.queues.count)),
                        ("messages_ready", .int(stats.queues.reduce(0) { $0 + $1.ready })),
                        ("messages_unacknowledged", .int(stats.queues.reduce(0) { $0 + $1.unacked })),
                        ("consumers", .int(stats.queues.reduce(0) { $0 + $1.consumers })),
                        ("enqueued", .int(stats.counters.enqueued)), ("delivered", .int(stats.counters.delivered)),
                    ]
                }
                if let error = worker.error { entry.append(("error", .string(error))) }
                perWorker.append(.object(entry))
            }
            let uptime = (NIODeadline.now() - telemetry.startedAt).nanoseconds / 1_000_000
            let node: JSON = [
                "name": .string(Self.nodeName), "type": "disc", "running": true,
                "mem_used": .int(memory), "mem_limit": .int(backend.alarms.memoryLimit),
                "mem_alarm": .bool(backend.alarms.memory),
                "disk_free_alarm": .bool(backend.alarms.disk),
                "fd_used": .int(descriptors), "sockets_used": .int(router.connections),
                "processors": .int(ProcessInfo.processInfo.activeProcessorCount),
                "uptime": .int(uptime), "os_pid": .string(String(ProcessInfo.processInfo.processIdentifier)),
                "partitions": [],
                "router": ["mem_used": .int(routerFigures.residentBytes), "fd_used": .int(routerFigures.openFileDescriptors),
                           "cpu_seconds": .double(routerFigures.cpuSeconds)],
                "workers": .array(perWorker),
            ]
            return [node]
        }
    }

    private func vhostList() -> EventLoopFuture<[JSON]> {
        let visible = vhosts(nil) ?? []
        return telemetry.workers().map { workers in
            visible.map { vhost in
                var ready = 0, unacked = 0
                for queue in workers.compactMap(\.stats).flatMap(\.queues) where queue.vhost == vhost.name {
                    ready += queue.ready
                    unacked += queue.unacked
                }
                return [
                    "name": .string(vhost.name), "description": vhost.name == "/" ? "Default virtual host" : "",
                    "tags": [], "tracing": false, "cluster_state": .object([(key: Self.nodeName, value: .string("running"))]),
                    "messages": .int(ready + unacked), "messages_ready": .int(ready), "messages_unacknowledged": .int(unacked),
                ]
            }
        }
    }

    /// RabbitMQ's rabbit_mgmt_wm_health_check_alarms: 503 with the alarms in force, else ok.
    private func alarmsCheck() -> HTTPReply {
        var alarms: [JSON] = []
        if backend.alarms.memory { alarms.append(["node": .string(Self.nodeName), "resource": "memory"]) }
        if backend.alarms.disk { alarms.append(["node": .string(Self.nodeName), "resource": "disk"]) }
        guard !alarms.isEmpty else { return Self.ok(["status": "ok"]) }
        let failed: JSON = ["status": "failed", "reason": "There are alarms in effect in the cluster", "alarms": .array(alarms)]
        return .json(failed.text, status: .serviceUnavailable)
    }

    private func healthCheck() -> EventLoopFuture<HTTPReply> {
        telemetry.health().map { health in
            let failed: JSON = ["status": "failed", "reason": "a worker is down or not linked"]
            return health.status == 200 ? Self.ok(["status": "ok"]) : .json(failed.text, status: .serviceUnavailable)
        }
    }
}
