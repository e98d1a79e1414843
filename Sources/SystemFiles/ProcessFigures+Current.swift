// This process's figures, read from /proc/self (Linux).
import BrokerTelemetry

#if canImport(Glibc)
import Glibc
#endif

extension ProcessFigures {
    /// This process, now.
    public static func current() -> ProcessFigures {
        ProcessFigures(residentBytes: residentBytes(), openFileDescriptors: openFileDescriptors(), cpuSeconds: cpuSeconds())
    }

    private static func residentBytes() -> UInt64 {
        // statm: size resident shared … in pages.
        let fields = read("/proc/self/statm").split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func openFileDescriptors() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return max(0, count - 1)  // the descriptor opendir itself holds
    }

    private static func cpuSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1_000_000 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private static func read(_ path: String) -> String {
        guard let file = fopen(path, "r") else { return "" }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 512)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return "" }
        return String(cString: buffer)
    }
}
