// Keeping an etcd lease alive: a worker's claim on its partition, a router's membership.
import Logging

enum LeaseRenewal {
    /// Renews `lease` three times a TTL. etcd ends a lease a TTL after it last renewed it,
    /// which is no earlier than when the renewal was sent; so unless a renewal sent at `t`
    /// succeeds by `t + TTL − TTL/3`, `lost` is called, before etcd can give what the lease
    /// holds to anyone else. Each renewal is cut off at that deadline, body included.
    /// `what` names the lease in log lines.
    static func start(_ lease: Int64, ttl seconds: Int, granted: ContinuousClock.Instant, etcd: EtcdClient,
                      what: String, logger: Logger, lost: @escaping @Sendable () -> Void) -> Task<Void, Never> {
        let ttl = Duration.seconds(seconds)
        let period = ttl / 3
        return Task {
            var deadline = granted + ttl - period
            var wait = period
            while !Task.isCancelled {
                try? await Task.sleep(until: min(ContinuousClock.now + wait, deadline))
                if Task.isCancelled { return }
                let sent = ContinuousClock.now
                do {
                    let left = deadline - sent
                    guard left > .zero else { break }
                    if try await within(left, { try await etcd.keepAlive(lease) }) {
                        deadline = sent + ttl - period
                        wait = period
                        continue
                    }
                    logger.error("etcd: the \(what)'s lease has ended")
                    break
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("etcd: cannot renew the \(what)'s lease; retrying", metadata: ["error": "\(error)"])
                    wait = .milliseconds(200)
                }
            }
            if Task.isCancelled { return }
            lost()
        }
    }

    /// `body`'s result, or an error once `limit` has passed.
    static func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw EtcdError("no answer from etcd within \(limit)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
