// Process plumbing for the runner: a small lock, the process's CPU time, and the console
// (live line overwritten with \r on a terminal, plain lines otherwise).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a pthread mutex (the runner's control path only, never per message).
final class PerfLocked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: (inout Value) -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}

/// User + system CPU seconds of this process so far (getrusage).
enum ProcessCPU {
    static func seconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }
}

/// Where the run's text goes. With `--json`, stdout carries only the final object, so the
/// live lines go to stderr.
struct PerfConsole: Sendable {
    let liveFD: Int32
    let liveIsTerminal: Bool
    private let liveShown = PerfLocked(false)

    init(json: Bool) {
        liveFD = json ? 2 : 1
        liveIsTerminal = isatty(liveFD) != 0
    }

    /// Shows the live line: overwritten in place on a terminal, else one line per call.
    func live(_ line: String) {
        if liveIsTerminal {
            liveShown.withLock { $0 = true }
            Self.write(liveFD, "\r" + line + "\u{1B}[K")
        } else {
            Self.write(liveFD, line + "\n")
        }
    }

    /// Ends the live line so that what follows starts on a fresh line.
    func endLive() {
        let shown = liveShown.withLock { shown -> Bool in
            defer { shown = false }
            return shown
        }
        if shown { Self.write(liveFD, "\n") }
    }

    /// A line on stderr.
    func notice(_ line: String) {
        if liveFD == 2 { endLive() }
        Self.write(2, line + "\n")
    }

    /// Writes all of `text` to `fd`.
    static func write(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
