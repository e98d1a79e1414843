// The disk alarm (RabbitMQ's disk_free_limit): when the file system holding the data
// directory has less free space than the limit, publishing connections are blocked
// (connection.blocked, and the router stops reading from them) until it has enough again.
import Foundation

public struct DiskWatch: Sendable {
    public var path: String
    public var freeLimit: UInt64

    public init(path: String, freeLimit: UInt64) {
        self.path = path
        self.freeLimit = freeLimit
    }

    /// Bytes available to unprivileged users on the file system of `path`, or nil if it
    /// cannot be read.
    public func freeBytes() -> UInt64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }

    /// Whether the alarm should be on: free space below the limit. An unreadable file
    /// system does not raise it (the log says why).
    public func isLow() -> (low: Bool, free: UInt64?) {
        guard let free = freeBytes() else { return (false, nil) }
        return (free < freeLimit, free)
    }
}
