// The router's own requests to a worker (not a client connection's), e.g. a queue declared
// through the management API. They travel on the link's control stream; the worker answers
// them on that same stream as if from connection 0, echoing the request id, so answers are
// matched here by id. Touched only on the link's event loop.
import BrokerModel
import LinkWire
import NIOCore

final class ControlRequests {
    private var nextID: UInt32 = 0
    private var pending: [LinkRequestID: EventLoopPromise<RequestAnswer>] = [:]

    /// A fresh id (unique on this link) and the future of its answer.
    func register(on loop: EventLoop) -> (LinkRequestID, EventLoopFuture<RequestAnswer>) {
        nextID &+= 1
        let id = LinkRequestID(nextID)
        let promise = loop.makePromise(of: RequestAnswer.self)
        pending[id] = promise
        return (id, promise.futureResult)
    }

    /// Completes request `id`; false when it is none of ours.
    func answer(_ id: LinkRequestID, _ answer: RequestAnswer) -> Bool {
        guard let promise = pending.removeValue(forKey: id) else { return false }
        promise.succeed(answer)
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

extension WorkerLinkClient {
    /// Sends a request made with a fresh id on the control stream; the future has the
    /// worker's answer (`.failed` included), or fails when the link is down or drops, or after
    /// `timeout`. Call on the link's event loop.
    func controlRequest(timeout: TimeAmount = .seconds(10), _ make: (LinkRequestID) -> LinkRequest) -> EventLoopFuture<RequestAnswer> {
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
