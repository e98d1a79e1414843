// What the kernel knows about this process: resident memory, open file descriptors and CPU
// time, read from /proc/self (Linux), for the metrics of every process.
#if canImport(Glibc)
import Glibc
#endif

public struct ProcessFigures: Codable, Sendable, Equatable {
    public var residentBytes: UInt64
    public var openFileDescriptors: Int
    /// User plus system CPU time.
    public var cpuSeconds: Double

    public init(residentBytes: UInt64, openFileDescriptors: Int, cpuSeconds: Double) {
        self.residentBytes = residentBytes
        self.openFileDescriptors = openFileDescriptors
        self.cpuSeconds = cpuSeconds
    }

    /// This process, now.
    public static func current() -> ProcessFigures {
        ProcessFigures(residentBytes: residentBytes(), openFileDescriptors: openFileDescriptors(), cpuSeconds: cpuSeconds())
    }

    static func residentBytes() -> UInt64 {
        // statm: size resident shared … in pages.
        let fields = read("/proc/self/statm").split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func openFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)  // the descriptor opendir itself holds
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func read(_ path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return "" }
        return String(cString: buffer)
    }
}
