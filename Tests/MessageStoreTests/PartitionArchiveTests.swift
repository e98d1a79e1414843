// A partition's files as one stream (the handover of `broker cluster move-partition`): what
// is packed comes out the same however the stream is cut, and a bad stream is refused.
import Foundation
import NIOCore
import SystemFiles
import Testing

@Suite struct PartitionArchiveTests {
    /// The stream the owner sends for `root`.
    private func pack(_ root: String) throws -> ByteBuffer {
        var stream = ByteBuffer()
        for path in PartitionArchive.files(under: root) {
            let contents = try Files.contents(of: root + "/" + path) ?? ByteBuffer()
            stream.writeImmutableBuffer(PartitionArchive.header(path: path, size: UInt64(contents.readableBytes)))
            stream.writeImmutableBuffer(contents)
        }
        return stream
    }

    private func write(_ path: String, _ bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func filesComeOutTheSameWhateverTheCuts() throws {
        let source = TemporaryDirectory(), target = TemporaryDirectory()
        defer { source.remove(); target.remove() }
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try write(source.path + "/queues", Array("catalog".utf8))
        try write(source.path + "/gen-2/00000001.seg", big)
        try write(source.path + "/gen-2/00000002.seg", [])
        let partition = target.path + "/partition-2"
        try write(partition + "/stale", [1, 2, 3])  // an old copy is replaced, not merged
        #expect(PartitionArchive.files(under: source.path) == ["gen-2/00000001.seg", "gen-2/00000002.seg", "queues"])
        let stream = try pack(source.path)
        for cut in [7, 65_536, stream.readableBytes] {
            var unpacker = try PartitionArchive.Unpacker(target: partition)
            var rest = stream
            // Byte by byte through the headers and the small file, then in pieces of `cut`.
            while rest.readableBytes > 0 {
                let size = rest.readerIndex < 200 ? 1 : min(cut, rest.readableBytes)
                try unpacker.append(rest.readSlice(length: size)!)
            }
            try unpacker.finish()
            #expect(unpacker.files == 3)
            #expect(unpacker.bytes == UInt64(big.count + 7))
            #expect(PartitionArchive.files(under: partition) == ["gen-2/00000001.seg", "gen-2/00000002.seg", "queues"])
            #expect(try Data(contentsOf: URL(fileURLWithPath: partition + "/gen-2/00000001.seg")) == Data(big))
            #expect(try Data(contentsOf: URL(fileURLWithPath: partition + "/queues")) == Data("catalog".utf8))
            #expect(!FileManager.default.fileExists(atPath: partition + ".incoming"))
        }
    }

    @Test func aStreamCutInAFileIsRefusedAndLeavesTheOldCopy() throws {
        let source = TemporaryDirectory(), target = TemporaryDirectory()
        defer { source.remove(); target.remove() }
        try write(source.path + "/queues", Array("catalog".utf8))
        let partition = target.path + "/partition-2"
        try write(partition + "/queues", Array("old".utf8))
        var stream = try pack(source.path)
        stream.moveWriterIndex(to: stream.writerIndex - 1)
        var unpacker = try PartitionArchive.Unpacker(target: partition)
        try unpacker.append(stream)
        #expect(throws: FileError.self) { try unpacker.finish() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: partition + "/queues")) == Data("old".utf8))
    }

    @Test func aPathOutsideThePartitionIsRefused() throws {
        let target = TemporaryDirectory()
        defer { target.remove() }
        for path in ["../escape", "/etc/passwd", "a/./b", ""] {
            var unpacker = try PartitionArchive.Unpacker(target: target.path + "/partition-1")
            #expect(throws: FileError.self, "\(path)") { try unpacker.append(PartitionArchive.header(path: path, size: 1)) }
        }
        #expect(!FileManager.default.fileExists(atPath: target.path + "/escape"))
    }
}
