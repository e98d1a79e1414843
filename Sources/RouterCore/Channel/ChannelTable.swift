// A connection's open channels by number. Every publish and every delivery looks its channel
// up; a client mostly works on one channel at a time, so the last one found is kept and the
// dictionary (a hash per lookup) is asked only when the channel changes.
import BrokerModel
public struct ChannelTable {
    @usableFromInline var byNumber: [UInt16: RouterChannel] = [:]
    @usableFromInline var last: RouterChannel?

    public init() {}

    @inlinable
    public subscript(number: UInt16) -> RouterChannel? {
        mutating get {
            if let last, last.number.value == number { return last }
            let found = byNumber[number]
            if found != nil { last = found }
            return found
        }
        set {
            byNumber[number] = newValue
            if last?.number.value == number { last = newValue }
        }
    }

    public var values: Dictionary<UInt16, RouterChannel>.Values { byNumber.values }
    public var count: Int { byNumber.count }
    public var isEmpty: Bool { byNumber.isEmpty }

    public mutating func removeAll() {
        byNumber.removeAll()
        last = nil
    }
}
