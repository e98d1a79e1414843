// What the kernel knows about a process: resident memory, open file descriptors and CPU
// time, for the metrics of every process (read by SystemFiles' `ProcessFigures.current()`).

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
}
