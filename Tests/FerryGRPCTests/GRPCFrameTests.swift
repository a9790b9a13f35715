import Testing

@testable import FerryGRPC

@Suite("gRPC length-prefixed frames")
struct GRPCFrameTests {
    @Test("a frame is a zero flag, a big-endian length and the message")
    func encode() {
        #expect(GRPCFrame.encode([7, 8]) == [0, 0, 0, 0, 2, 7, 8])
        #expect(GRPCFrame.encode([]) == [0, 0, 0, 0, 0])
        #expect(GRPCFrame.encode([UInt8](repeating: 1, count: 300)).prefix(5) == [0, 0, 0, 1, 44])
    }

    @Test("messages come out whole wherever the stream is split")
    func splitAnywhere() throws {
        let messages: [[UInt8]] = [[1], [], Array(repeating: 9, count: 70_000), [2, 3]]
        let stream = messages.flatMap(GRPCFrame.encode)
        for split in [1, 2, 3, 5, 6, 7, 4096, stream.count] {
            var decoder = GRPCFrameDecoder()
            var out: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                decoder.append(stream[offset..<min(stream.count, offset + split)])
                offset += split
                while let m = try decoder.next() { out.append(m) }
            }
            #expect(out == messages, "split \(split)")
            #expect(decoder.isAtFrameBoundary)
        }
        var partial = GRPCFrameDecoder()
        partial.append([0, 0, 0, 0, 3, 1])
        #expect(try partial.next() == nil)
        #expect(!partial.isAtFrameBoundary && partial.bufferedByteCount == 6)
    }

    @Test("compressed frames, bad flags and oversized frames are errors")
    func errors() {
        var compressed = GRPCFrameDecoder()
        compressed.append([1, 0, 0, 0, 1, 5])
        let error = #expect(throws: TranscodingError.self) { try compressed.next() }
        #expect(error?.message.contains("compressed") == true)
        var flags = GRPCFrameDecoder()
        flags.append([0x80, 0, 0, 0, 0])
        #expect(throws: TranscodingError.self) { try flags.next() }
        var big = GRPCFrameDecoder(maxMessageSize: 10)
        big.append([0, 0, 0, 0, 11])
        let bigError = #expect(throws: TranscodingError.self) { try big.next() }
        #expect(bigError?.message.contains("larger than the limit of 10") == true)
    }
}

@Suite("Server-stream JSON layout")
struct JSONStreamWriterTests {
    @Test("an array by default, lines or server-sent events on request, [] for an empty stream")
    func layouts() {
        func run(_ options: JSONPrintOptions, _ messages: [String]) -> String {
            var w = JSONStreamWriter(options: options)
            return (messages.flatMap { w.next(Array($0.utf8)) } + w.finish()).text
        }
        #expect(run(JSONPrintOptions(), ["{}", "{\"a\":1}"]) == "[{},{\"a\":1}]")
        #expect(run(JSONPrintOptions(), []) == "[]")
        var lines = JSONPrintOptions()
        lines.streamNewlineDelimited = true
        #expect(run(lines, ["{}", "{}"]) == "{}\n{}\n")
        var sse = lines
        sse.streamSSEStyleDelimited = true
        #expect(run(sse, ["{}"]) == "data: {}\n\n")
    }
}
