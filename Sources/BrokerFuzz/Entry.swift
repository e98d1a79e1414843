// Two builds of one target. With -DFUZZING and -sanitize=fuzzer, libFuzzer's driver runs
// `LLVMFuzzerTestOneInput` ($BROKER_FUZZ_TARGET picks the target; the executable's main hands
// over to the driver, since SwiftPM names an executable's entry point itself). Without, this
// is `broker-fuzz TARGET FILE…`: every file is run once, so the corpora and crash reproducers
// under Tests/Fuzz are regression tests in every CI run (Tests/Fuzz/run.sh); and
// `broker-fuzz seed DIR` writes the seed corpus.
import Foundation

#if FUZZING
private let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["BROKER_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        fatalError("set BROKER_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
struct Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = Optional(CommandLine.unsafeArgv)
        exit(runFuzzerDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
#else
@main
struct Replay {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "seed", let directory = arguments.dropFirst().first {
            return try Seeds.write(into: directory)
        }
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            print("usage: broker-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE…, or broker-fuzz seed DIR")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                exit(1)
            }
            data.withUnsafeBytes { target.run($0) }
        }
        print("\(target.rawValue): \(arguments.count - 1) inputs, no crash")
    }
}
#endif
