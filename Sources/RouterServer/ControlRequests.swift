// The router's own requests to a worker (not a client connection's), e.g. a queue declared
// through the management API. They travel on the link's control stream; the worker answers
// them on that same stream as if from connection 0, echoing the request id, so answers are
// matched here by id. Touched only on the link's event loop.
import BrokerModel
import LinkWire
import NIOCore

final class ControlRequests {
    private var nextID: UInt32 = 0
    private var pending: [LinkRequestID: EventLoopPromise<LinkEvent>] = [:]

    /// A fresh id (unique on this link) and the future of its answer.
    func register(on loop: EventLoop) -> (LinkRequestID, EventLoopFuture<LinkEvent>) {
        nextID &+= 1
        let id = LinkRequestID(nextID)
        let promise = loop.makePromise(of: LinkEvent.self)
        pending[id] = promise
        return (id, promise.futureResult)
    }

    /// Completes the request `event` answers; false when the event answers none of ours.
    func answer(_ event: LinkEvent) -> Bool {
        guard let id = event.requestID, let promise = pending.removeValue(forKey: id) else { return false }
        promise.succeed(event)
        return true
    }

    func fail(_ id: LinkRequestID, _ error: Error) {
        pending.removeValue(forKey: id)?.fail(error)
    }

    /// The link dropped: no answer will come.
    func failAll(_ error: Error) {
        let all = pending
        pending.removeAll()
        for promise in all.values { promise.fail(error) }
    }
}

extension LinkEvent {
    /// The request this event answers, if it is an answer.
    var requestID: LinkRequestID? {
        switch self {
        case .queueDeclared(let id, _, _, _), .queueDeleted(let id, _), .queuePurged(let id, _),
             .consumeOk(let id, _), .cancelOk(let id, _), .getOk(let id, _, _, _, _), .getEmpty(let id),
             .recoverOk(let id), .failed(let id, _, _):
            return id
        default:
            return nil
        }
    }
}

extension WorkerLinkClient {
    /// Sends a request made with a fresh id on the control stream; the future has the
    /// worker's answer (`.failed` included), or fails when the link is down or drops, or after
    /// `timeout`. Call on the link's event loop.
    func controlRequest(timeout: TimeAmount = .seconds(10), _ make: (LinkRequestID) -> LinkRequest) -> EventLoopFuture<LinkEvent> {
        eventLoop.assertInEventLoop()
        guard isLinked else {
            return eventLoop.makeFailedFuture(LinkRequestFailed(partition: partition, reason: "not linked"))
        }
        let (id, answer) = controlRequests.register(on: eventLoop)
        sendControl(make(id))
        let partition = self.partition
        let timer = eventLoop.scheduleTask(in: timeout) { [weak self] in
            self?.controlRequests.fail(id, LinkRequestFailed(partition: partition, reason: "timed out"))
        }
        answer.whenComplete { _ in timer.cancel() }
        return answer
    }
}
