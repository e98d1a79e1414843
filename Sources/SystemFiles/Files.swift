// SystemFiles: the operating system's files as the broker uses them: the POSIX operations
// of the message store, small files replaced atomically (the router's topology, the data
// directory's partition count), and what /proc says about this process. Errors name the file.
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct FileError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    public static func posix(_ what: String, _ path: String) -> FileError {
        FileError("\(what) \(path): \(String(cString: strerror(errno)))")
    }
}

public enum Files {
    public static func open(_ path: String, create: Bool) throws(FileError) -> Int32 {
        let fd = create ? Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) : Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("cannot open", path) }
        return fd
    }

    public static func size(of fd: Int32) -> UInt64 {
        var info = stat()
        return fstat(fd, &info) == 0 ? UInt64(info.st_size) : 0
    }

    /// Writes all of `buffer` at `offset`.
    public static func write(_ buffer: ByteBuffer, to fd: Int32, at offset: UInt64, path: @autoclosure () -> String) throws(FileError) {
        var written = 0
        let total = buffer.readableBytes
        while written < total {
            let result = buffer.withUnsafeReadableBytes { bytes in
                pwrite(fd, bytes.baseAddress! + written, total - written, off_t(offset) + off_t(written))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw .posix("cannot write", path())
            }
            written += result
        }
    }

    /// Reads up to `length` bytes at `offset` (fewer at the end of the file).
    public static func read(_ fd: Int32, at offset: UInt64, length: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        var total = 0
        while total < length {
            let result = buffer.withUnsafeMutableWritableBytes { bytes in
                pread(fd, bytes.baseAddress! + total, length - total, off_t(offset) + off_t(total))
            }
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { break }
            total += result
        }
        buffer.moveWriterIndex(forwardBy: total)
        return buffer
    }

    public static func sync(_ fd: Int32) {
        _ = fdatasync(fd)
    }

    public static func syncDirectory(_ path: String) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    public static func makeDirectory(_ path: String) throws(FileError) {
        if mkdir(path, 0o700) != 0, errno != EEXIST { throw .posix("cannot create directory", path) }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    public static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The names in a directory.
    public static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public static func removeTree(_ path: String) {
        if unlink(path) == 0 { return }  // a file
        for name in list(path) { removeTree(path + "/" + name) }
        rmdir(path)
    }

    /// Replaces `path` with `contents` so that a crash leaves either the old file or the
    /// new one: write a temporary file, sync it, rename it over, sync the directory.
    public static func replace(_ path: String, with contents: ByteBuffer) throws(FileError) {
        let temporary = path + ".tmp"
        let fd = try open(temporary, create: true)
        defer { close(fd) }
        guard ftruncate(fd, 0) == 0 else { throw .posix("cannot truncate", temporary) }
        try write(contents, to: fd, at: 0, path: temporary)
        guard fsync(fd) == 0 else { throw .posix("cannot sync", temporary) }
        guard rename(temporary, path) == 0 else { throw .posix("cannot rename to", path) }
        syncDirectory(parent(of: path))
    }

    /// The directory that holds `path`.
    public static func parent(of path: String) -> String {
        path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    }

    /// The whole file, or nil when it does not exist.
    public static func contents(of path: String) throws(FileError) -> ByteBuffer? {
        guard exists(path) else { return nil }
        let fd = try open(path, create: false)
        defer { close(fd) }
        return read(fd, at: 0, length: Int(size(of: fd)))
    }
}
