import AMQPWire
import BrokerModel
import RouterCore
import Testing

@Suite("ChannelStateMachine")
struct ChannelStateMachineTests {
    var channel = ChannelStateMachine()
    let qos = Command.method(channel: 1, .basicQos(BasicQos(prefetchSize: 0, prefetchCount: 1, global: false)))
    let close = Command.method(channel: 1, .channelClose(ChannelClose(replyCode: 200, replyText: "", classId: 0, methodId: 0)))
    let closeOk = Command.method(channel: 1, .channelCloseOk(ChannelCloseOk()))
    let declare = PendingOperation(kind: .queuePurge(QueueName("q"), noWait: false), classID: 50, methodID: 30)

    @Test("an open channel handles commands at once")
    mutating func handles() {
        #expect(channel.admit(qos) == .handle)
        #expect(channel.isOpen)
    }

    @Test("while a worker's answer is awaited, commands are held and come back in order")
    mutating func holdsInOrder() {
        channel.wait(for: declare)
        #expect(channel.isBusy)
        #expect(channel.admit(qos) == .held)
        #expect(channel.admit(close) == .held)
        #expect(channel.nextHeld() == nil)  // still waiting
        #expect(channel.answered()?.classID == 50)
        #expect(channel.nextHeld() == qos)
        #expect(channel.nextHeld() == close)
        #expect(channel.nextHeld() == nil)
    }

    @Test("a channel error sends one close, drops what was held, and ignores later answers")
    mutating func failCloses() {
        channel.wait(for: declare)
        _ = channel.admit(qos)
        let sent = channel.fail(.notFound, "NOT_FOUND - no queue 'q'", classID: 50, methodID: 10)
        #expect(sent == ChannelClose(replyCode: 404, replyText: "NOT_FOUND - no queue 'q'", classId: 50, methodId: 10))
        #expect(channel.fail(.preconditionFailed, "again", classID: 0, methodID: 0) == nil)
        #expect(channel.answered() == nil)
        #expect(channel.nextHeld() == nil)
        #expect(!channel.isOpen)
    }

    @Test("after our close, only close and close-ok count")
    mutating func closingHandshake() {
        _ = channel.fail(.notFound, "NOT_FOUND", classID: 0, methodID: 0)
        #expect(channel.admit(qos) == .drop)
        #expect(channel.admit(close) == .answerClose)  // closes crossed
        #expect(channel.admit(closeOk) == .finished)
        #expect(channel.admit(qos) == .drop)
    }

    @Test("a client close ends the channel and what it waited for")
    mutating func clientClose() {
        channel.wait(for: declare)
        _ = channel.admit(qos)
        channel.closedByClient()
        #expect(channel.answered() == nil)
        #expect(channel.nextHeld() == nil)
        #expect(channel.admit(qos) == .drop)
    }
}
