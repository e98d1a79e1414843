// The life of one AMQP channel on the router: open, held while a synchronous method waits
// for a worker's answer (channels are processed strictly in order, so a publish sent right
// after a queue.declare must not be routed before the declare has landed), and the close
// handshake in either direction (spec: channel.close).
//
// Pure: the handler asks it what to do with each command and carries that out.
import AMQPWire
import DequeModule

public struct ChannelStateMachine {
    @usableFromInline enum State {
        case open
        /// We sent channel.close: everything but channel.close(-ok) is dropped.
        case closing
        case closed
    }

    @usableFromInline var state = State.open
    /// The synchronous operation the channel waits on; commands wait in `held`.
    @usableFromInline var waiting: PendingOperation?
    @usableFromInline var held: Deque<Command> = []

    public init() {}

    @inlinable public var isOpen: Bool { if case .open = state { true } else { false } }
    @inlinable public var isBusy: Bool { waiting != nil }

    /// A command for this channel arrived from the client.
    @inlinable
    public mutating func admit(_ command: Command) -> ChannelAdmission {
        switch state {
        case .open:
            guard waiting == nil else {
                held.append(command)
                return .held
            }
            return .handle
        case .closing:
            switch command {
            case .method(_, .channelCloseOk):
                state = .closed
                return .finished
            case .method(_, .channelClose):
                return .answerClose  // closes crossed: answer theirs, still wait for ours
            default:
                return .drop
            }
        case .closed:
            return .drop
        }
    }

    /// A synchronous method went to a worker: later commands are held until it is answered.
    public mutating func wait(for operation: PendingOperation) {
        guard case .open = state else { return }
        waiting = operation
    }

    /// A worker answered: the operation it answers, or nil when the channel no longer waits.
    public mutating func answered() -> PendingOperation? {
        guard case .open = state else { return nil }
        defer { waiting = nil }
        return waiting
    }

    /// The next held command to handle now, while the channel is open and waits on nothing.
    public mutating func nextHeld() -> Command? {
        guard case .open = state, waiting == nil else { return nil }
        return held.popFirst()
    }

    /// A channel exception: the channel.close to send, or nil when one is already under way.
    public mutating func fail(_ code: ReplyCode, _ text: String, classID: UInt16, methodID: UInt16) -> ChannelClose? {
        guard case .open = state else { return nil }
        state = .closing
        waiting = nil
        held.removeAll()
        return ChannelClose(replyCode: code.rawValue, replyText: text, classId: classID, methodId: methodID)
    }

    /// The client's channel.close was answered with close-ok: the number is free.
    public mutating func closedByClient() {
        state = .closed
        waiting = nil
        held.removeAll()
    }
}

/// What to do with a command that arrived for a channel.
public enum ChannelAdmission: Hashable, Sendable {
    /// Handle it now.
    case handle
    /// The channel waits on a worker; the command was kept and comes back from `nextHeld`.
    case held
    /// Discard it (the channel is closing).
    case drop
    /// The client's close crossed ours: answer it with close-ok.
    case answerClose
    /// The client's close-ok to our close arrived: the channel is gone.
    case finished
}
