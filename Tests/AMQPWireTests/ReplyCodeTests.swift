import Testing
@testable import AMQPWire

@Suite("ReplyCode")
struct ReplyCodeTests {
    @Test("codes, texts and scopes match the spec and RabbitMQ")
    func codes() {
        #expect(ReplyCode.notFound.rawValue == 404 && ReplyCode.notFound.text == "NOT_FOUND")
        #expect(ReplyCode.preconditionFailed.text == "PRECONDITION_FAILED")
        #expect(ReplyCode.noRoute.rawValue == 312 && ReplyCode.noRoute.text == "NO_ROUTE")
        #expect(ReplyCode.notImplemented.text == "NOT_IMPLEMENTED")
        #expect(!ReplyCode.notFound.isHardError && !ReplyCode.accessRefused.isHardError)
        #expect(!ReplyCode.resourceLocked.isHardError && !ReplyCode.preconditionFailed.isHardError)
        #expect(ReplyCode.frameError.isHardError && ReplyCode.unexpectedFrame.isHardError)
        #expect(ReplyCode.connectionForced.isHardError && ReplyCode.notAllowed.isHardError)
        #expect(ReplyCode.notFound.replyText("no queue 'x' in vhost '/'") == "NOT_FOUND - no queue 'x' in vhost '/'")
        #expect(AMQPWireError(.frameError, "bad").replyText == "FRAME_ERROR - bad")
    }
}
