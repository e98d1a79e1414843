import Testing
@testable import BrokerPerf

@Suite struct ConfirmWindowTests {
    @Test func limitsMessagesInFlight() {
        var window = ConfirmWindow(limit: 3)
        #expect(window.available == 3)
        window.published(3)
        #expect(window.available == 0)
        #expect(window.nextSequence == 4)
    }

    @Test func multipleAckSettlesEverythingUpToTheTag() {
        var window = ConfirmWindow(limit: 10)
        window.published(5)
        let m1 = window.settle(deliveryTag: 3, multiple: true, ack: true)
        #expect(m1 == 3)
        #expect(window.inFlight == 2)
        #expect(window.acked == 3)
        let m2 = window.settle(deliveryTag: 5, multiple: true, ack: true)
        #expect(m2 == 2)
        #expect(window.inFlight == 0)
    }

    @Test func outOfOrderSingleAcksSlideTheWindowWhenTheGapCloses() {
        var window = ConfirmWindow(limit: 4)
        window.published(4)
        let m3 = window.settle(deliveryTag: 2, multiple: false, ack: true)
        #expect(m3 == 1)
        let m4 = window.settle(deliveryTag: 3, multiple: false, ack: true)
        #expect(m4 == 1)
        #expect(window.available == 0) // 1 still unconfirmed
        let m5 = window.settle(deliveryTag: 1, multiple: false, ack: true)
        #expect(m5 == 1)
        #expect(window.available == 3)
        #expect(window.oldestUnconfirmed == 4)
        window.published(3) // wraps the ring
        let m6 = window.settle(deliveryTag: 7, multiple: true, ack: true)
        #expect(m6 == 4)
        #expect(window.inFlight == 0)
        #expect(window.acked == 7)
    }

    @Test func multipleAckDoesNotCountAlreadySettledTagsTwice() {
        var window = ConfirmWindow(limit: 8)
        window.published(5)
        window.settle(deliveryTag: 4, multiple: false, ack: true)
        let m7 = window.settle(deliveryTag: 5, multiple: true, ack: true)
        #expect(m7 == 4)
        #expect(window.acked == 5)
    }

    @Test func nacksAreCountedApart() {
        var window = ConfirmWindow(limit: 8)
        window.published(4)
        window.settle(deliveryTag: 2, multiple: true, ack: false)
        window.settle(deliveryTag: 4, multiple: true, ack: true)
        #expect(window.nacked == 2)
        #expect(window.acked == 2)
    }

    @Test func ignoresUnknownAndRepeatedTags() {
        var window = ConfirmWindow(limit: 8)
        window.published(2)
        let m8 = window.settle(deliveryTag: 9, multiple: true, ack: true)
        #expect(m8 == 0)
        let m9 = window.settle(deliveryTag: 1, multiple: false, ack: true)
        #expect(m9 == 1)
        let m10 = window.settle(deliveryTag: 1, multiple: false, ack: true)
        #expect(m10 == 0)
        #expect(window.inFlight == 1)
    }
}
