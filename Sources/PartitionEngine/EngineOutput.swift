// The effects one `PartitionEngine` call produces, in the order they must be sent.
import BrokerModel
import LinkWire

/// Where an event produced by the engine goes.
public enum EngineRecipient: Hashable, Sendable {
    /// The stream of this client connection.
    case connection(ConnectionID)
    /// The stream of this client connection, once the store has synced what this call
    /// wrote (a publisher confirm for a persistent message); events that follow for the same
    /// connection's confirms wait behind it.
    case connectionAfterSync(ConnectionID)
    /// Every router link (e.g. `.queueGone`, which the router applies to its topology).
    case router
    /// Any one router link (e.g. `.deadLetter` or `.delayedDue`, which must be routed once).
    case anyRouterLink
}

/// The events produced by one or more engine calls. The caller sends them in order and then
/// calls `removeAll()`, so that the storage is reused and the hot path does not allocate.
public struct EngineOutput {
    /// Events in production order; events for one connection must be sent in this order.
    public var events: [(EngineRecipient, WorkerEvent)]

    public init() {
        self.events = []
    }

    /// Forgets the events, keeping the capacity.
    public mutating func removeAll() {
        events.removeAll(keepingCapacity: true)
    }

    mutating func send(_ event: WorkerEvent, to connection: ConnectionID) {
        events.append((.connection(connection), event))
    }

    mutating func sendAfterSync(_ event: WorkerEvent, to connection: ConnectionID) {
        events.append((.connectionAfterSync(connection), event))
    }

    mutating func broadcast(_ event: WorkerEvent) {
        events.append((.router, event))
    }

    mutating func deadLetter(_ event: DeadLetterEvent) {
        routeAgain(.deadLetter(event))
    }

    /// A message the router must route (once): dead-lettered or delayed.
    mutating func routeAgain(_ event: WorkerEvent) {
        events.append((.anyRouterLink, event))
    }
}
