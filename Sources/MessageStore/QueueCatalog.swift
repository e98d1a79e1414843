// The durable queues of a partition: `queues` in its directory, rewritten whole (atomically)
// on each durable declare or delete, which are rare next to messages.
// Format: "BRKQUEUE", version (u16), next reference (u32), count (u32), then per queue its
// reference (u32), vhost and name (u16 length + UTF-8), flags (u8: 1 auto-delete, 2 an
// x-delayed-message exchange rather than a queue, 4 not durable, 8 exclusive: the owner's
// connection id (u64) follows) and arguments (u32 length + AMQP field table); last, a
// CRC-32C of everything before it. Flags 4 and 8 are those of queues a handover carried
// (version 2, which an older worker refuses rather than take them for durable queues).
import BrokerModel
import NIOCore
import PartitionEngine
import SystemFiles

struct QueueCatalog {
    let path: String
    private(set) var queues: [UInt32: JournalQueue] = [:]
    private var nextRef: UInt32 = 1
    static let magic: [UInt8] = Array("BRKQUEUE".utf8)
    static let version: UInt16 = 1
    static let versionWithCarried: UInt16 = 2

    init(path: String) throws(FileError) {
        self.path = path
        guard var buffer = try Files.contents(of: path) else { return }
        guard buffer.readableBytes >= 4,
              let crc = buffer.getInteger(at: buffer.writerIndex - 4, as: UInt32.self),
              RecordCodec.checksum(buffer.getSlice(at: 0, length: buffer.readableBytes - 4)!) == crc,
              buffer.readBytes(length: 8) == Self.magic,
              let version = buffer.readInteger(as: UInt16.self), version <= Self.versionWithCarried,
              let next = buffer.readInteger(as: UInt32.self), let count = buffer.readInteger(as: UInt32.self) else {
            throw FileError("\(path) is corrupt (bad header or checksum)")
        }
        nextRef = next
        for _ in 0..<count {
            guard let ref = buffer.readInteger(as: UInt32.self), let vhost = Self.readString(&buffer),
                  let name = Self.readString(&buffer), let flags = buffer.readInteger(as: UInt8.self) else {
                throw FileError("\(path) is corrupt (truncated entry)")
            }
            var owner: ConnectionID?
            if flags & 8 != 0 {
                guard let value = buffer.readInteger(as: UInt64.self) else { throw FileError("\(path) is corrupt (truncated entry)") }
                owner = ConnectionID(value)
            }
            guard let length = buffer.readInteger(as: UInt32.self), let arguments = buffer.readSlice(length: Int(length)) else {
                throw FileError("\(path) is corrupt (truncated entry)")
            }
            queues[ref] = JournalQueue(id: QueueID(vhost: VHost(vhost), name: QueueName(name)), autoDelete: flags & 1 != 0,
                                       arguments: arguments, kind: flags & 2 != 0 ? .delayedExchange : .queue,
                                       durable: flags & 4 == 0, exclusiveOwner: owner)
        }
    }

    /// Adds queues with one rewrite of the file.
    mutating func add(_ added: [JournalQueue]) throws(FileError) -> [UInt32] {
        var refs: [UInt32] = []
        for queue in added {
            refs.append(nextRef)
            queues[nextRef] = queue
            nextRef &+= 1
        }
        try save()
        return refs
    }

    mutating func remove(_ ref: UInt32) throws(FileError) {
        guard queues.removeValue(forKey: ref) != nil else { return }
        try save()
    }

    /// Forgets the queues a handover carried (on a start that is not the handover's): they
    /// live only until the worker restarts. Their references are not given out again.
    mutating func removeCarried() throws(FileError) {
        let carried = queues.filter { $0.value.isCarried }.keys
        guard !carried.isEmpty else { return }
        for ref in carried { queues[ref] = nil }
        try save()
    }

    private func save() throws(FileError) {
        var buffer = ByteBuffer()
        buffer.writeBytes(Self.magic)
        buffer.writeInteger(queues.values.contains { $0.isCarried } ? Self.versionWithCarried : Self.version)
        buffer.writeInteger(nextRef)
        buffer.writeInteger(UInt32(queues.count))
        for (ref, queue) in queues.sorted(by: { $0.key < $1.key }) {
            buffer.writeInteger(ref)
            Self.writeString(queue.id.vhost.name, into: &buffer)
            Self.writeString(queue.id.name.name, into: &buffer)
            buffer.writeInteger(UInt8((queue.autoDelete ? 1 : 0) | (queue.kind == .delayedExchange ? 2 : 0)
                                          | (queue.durable ? 0 : 4) | (queue.exclusiveOwner == nil ? 0 : 8)))
            if let owner = queue.exclusiveOwner { buffer.writeInteger(owner.value) }
            buffer.writeInteger(UInt32(queue.arguments.readableBytes))
            buffer.writeImmutableBuffer(queue.arguments)
        }
        buffer.writeInteger(RecordCodec.checksum(buffer))
        try Files.replace(path, with: buffer)
    }

    private static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt16(0))
        buffer.setInteger(UInt16(clamping: buffer.writeString(string)), at: start)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}
