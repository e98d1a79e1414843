// A partition's directory as one byte stream, for handing the partition to a worker on another
// host (`broker cluster move-partition`). For each regular file: `u16` path length, the path
// relative to the directory (UTF-8), `u64` size, then the file's bytes; big-endian. Both ends
// go through the files piece by piece, so neither holds a store in memory.
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

public enum PartitionArchive {
    /// The regular files under `root` as paths relative to it, sorted.
    public static func files(under root: String) -> [String] {
        var found: [String] = []
        func walk(_ relative: String) {
            let path = relative.isEmpty ? root : root + "/" + relative
            for name in Files.list(path).sorted() {
                let child = relative.isEmpty ? name : relative + "/" + name
                if Files.isDirectory(root + "/" + child) {
                    walk(child)
                } else if Files.isRegularFile(root + "/" + child) {
                    found.append(child)
                }
            }
        }
        walk("")
        return found
    }

    /// The header that precedes a file's bytes.
    public static func header(path: String, size: UInt64) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 10 + path.utf8.count)
        buffer.writeInteger(UInt16(path.utf8.count))
        buffer.writeString(path)
        buffer.writeInteger(size)
        return buffer
    }

    /// The receiving end: writes the files as their bytes arrive into `<target>.incoming`,
    /// which replaces `target` only once the stream is complete (`finish`), so a take that
    /// fails half-way never leaves a partial store where a worker would recover it.
    public struct Unpacker {
        public let target: String
        let root: String
        private var pending = ByteBuffer()
        private var current: (fd: Int32, path: String, offset: UInt64, left: UInt64)?
        public private(set) var files = 0
        public private(set) var bytes: UInt64 = 0

        /// Where the files of `target` are written until the stream is complete.
        public static func incoming(_ target: String) -> String { target + ".incoming" }

        public init(target: String) throws(FileError) {
            self.target = target
            self.root = Self.incoming(target)
            Files.removeTree(root)  // what a failed take left
            try DataDirectory.makeDirectories(root)
        }

        public mutating func append(_ data: ByteBuffer) throws(FileError) {
            pending.writeImmutableBuffer(data)
            while pending.readableBytes > 0 {
                if let file = current {
                    let take = Int(min(UInt64(pending.readableBytes), file.left))
                    try Files.write(pending.readSlice(length: take)!, to: file.fd, at: file.offset, path: file.path)
                    current = (file.fd, file.path, file.offset + UInt64(take), file.left - UInt64(take))
                    bytes += UInt64(take)
                    if file.left == UInt64(take) { try closeFile() }
                } else if !(try openNextFile()) {
                    break  // the rest of the header is still to come
                }
            }
            pending.discardReadBytes()
        }

        /// Checks that the stream ended between files, syncs them, and puts them in place of
        /// `target` (a copy from an earlier time this host had the partition is stale: the map
        /// says another worker owns it).
        public mutating func finish() throws(FileError) {
            guard current == nil, pending.readableBytes == 0 else {
                throw FileError("the partition's files ended in the middle of \(current?.path ?? "a file header")")
            }
            syncDirectories(root)
            Files.removeTree(target)
            guard rename(root, target) == 0 else { throw .posix("cannot rename to", target) }
            Files.syncDirectory(Files.parent(of: target))
        }

        /// Opens the next file if its whole header is in `pending`.
        private mutating func openNextFile() throws(FileError) -> Bool {
            guard let length = pending.getInteger(at: pending.readerIndex, as: UInt16.self),
                  pending.readableBytes >= 2 + Int(length) + 8 else { return false }
            pending.moveReaderIndex(forwardBy: 2)
            let relative = pending.readString(length: Int(length))!
            let size = pending.readInteger(as: UInt64.self)!
            let parts = relative.split(separator: "/")
            guard !relative.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == ".." || $0 == "." }) else {
                throw FileError("refused a path outside the partition's directory: '\(relative)'")
            }
            if parts.count > 1 { try DataDirectory.makeDirectories(root + "/" + parts.dropLast().joined(separator: "/")) }
            let path = root + "/" + relative
            let fd = try Files.open(path, create: true)
            guard ftruncate(fd, 0) == 0 else {
                close(fd)
                throw .posix("cannot truncate", path)
            }
            current = (fd, path, 0, size)
            files += 1
            if size == 0 { try closeFile() }
            return true
        }

        private mutating func closeFile() throws(FileError) {
            guard let file = current else { return }
            current = nil
            defer { close(file.fd) }
            guard fsync(file.fd) == 0 else { throw .posix("cannot sync", file.path) }
        }

        private func syncDirectories(_ path: String) {
            Files.syncDirectory(path)
            for name in Files.list(path) where Files.isDirectory(path + "/" + name) {
                syncDirectories(path + "/" + name)
            }
        }
    }
}
