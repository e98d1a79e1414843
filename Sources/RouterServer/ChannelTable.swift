// A connection's open channels by number. Every publish and every delivery looks its channel
// up; a client mostly works on one channel at a time, so the last one found is kept and the
// dictionary (a hash per lookup) is asked only when the channel changes.
struct ChannelTable {
    private var byNumber: [UInt16: RouterChannel] = [:]
    private var last: RouterChannel?

    subscript(number: UInt16) -> RouterChannel? {
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

    var values: Dictionary<UInt16, RouterChannel>.Values { byNumber.values }
    var count: Int { byNumber.count }
    var isEmpty: Bool { byNumber.isEmpty }

    mutating func removeAll() {
        byNumber.removeAll()
        last = nil
    }
}
