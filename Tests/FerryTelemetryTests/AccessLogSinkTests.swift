import Dispatch
import FerryConfig
import FerryTelemetry
import Foundation
import Testing

/// A fresh directory per test, removed afterwards.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/ferry-access-log-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    func lines(_ name: String) -> [String] {
        guard let text = try? String(contentsOfFile: file(name), encoding: .utf8) else { return [] }
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }
}

@Suite("Access log sink")
struct AccessLogSinkTests {
    /// Flushes only when told to, so a test decides exactly what is on disk.
    static func manualSink(_ path: String, bufferLimit: Int = 8 << 20) throws -> AccessLogSink {
        try AccessLogSink(.file(path), flushInterval: .seconds(3600), flushThreshold: Int.max, bufferLimit: bufferLimit)
    }

    @Test("lines stay in memory until flush, then appear complete and in order")
    func flushMakesLinesVisible() throws {
        let dir = try TemporaryDirectory()
        let sink = try Self.manualSink(dir.file("access.log"))
        defer { sink.close() }
        sink.write(Array("first line\n".utf8))
        sink.write(Array("second line\n".utf8))
        #expect(dir.lines("access.log").isEmpty)
        sink.flush()
        #expect(dir.lines("access.log") == ["first line", "second line"])
        #expect(sink.droppedLines == 0)
    }

    @Test("a new file is created with mode 0644 and an existing one is appended to")
    func createsAndAppends() throws {
        let dir = try TemporaryDirectory()
        try "old\n".write(toFile: dir.file("access.log"), atomically: false, encoding: .utf8)
        let sink = try Self.manualSink(dir.file("access.log"))
        sink.write(Array("new\n".utf8))
        sink.close()
        #expect(dir.lines("access.log") == ["old", "new"])
        let other = try Self.manualSink(dir.file("created.log"))
        other.close()
        let mode = try FileManager.default.attributesOfItem(atPath: dir.file("created.log"))[.posixPermissions] as? Int
        let mask = umask(0)
        umask(mask)
        #expect(mode == 0o644 & ~Int(mask))
    }

    @Test("the writer thread flushes by itself within the interval")
    func backgroundFlush() throws {
        let dir = try TemporaryDirectory()
        let sink = try AccessLogSink(.file(dir.file("access.log")), flushInterval: .milliseconds(20))
        defer { sink.close() }
        sink.write(Array("eventually\n".utf8))
        let deadline = ContinuousClock.now + .seconds(10)
        while dir.lines("access.log").isEmpty && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.01)
        }
        #expect(dir.lines("access.log") == ["eventually"])
    }

    @Test("4 threads writing 1000 lines each leave 4000 intact lines, each thread's in order")
    func concurrentWriters() throws {
        let dir = try TemporaryDirectory()
        // A small threshold keeps the writer thread flushing while the others append.
        let sink = try AccessLogSink(.file(dir.file("access.log")), flushInterval: .milliseconds(5),
                                     flushThreshold: 4096)
        let group = DispatchGroup()
        for writer in 0..<4 {
            DispatchQueue(label: "writer-\(writer)").async(group: group) {
                for index in 0..<1000 {
                    let padding = String(repeating: "x", count: (index * 7 + writer) % 200)
                    sink.write(Array("w\(writer) \(index) \(padding)\n".utf8))
                }
            }
        }
        group.wait()
        sink.close()
        let lines = dir.lines("access.log")
        #expect(lines.count == 4000)
        var next = [0, 0, 0, 0]
        for line in lines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, let writer = Int(fields[0].dropFirst()), let index = Int(fields[1]),
                  (0..<4).contains(writer) else {
                Issue.record("torn line: \(line.prefix(60))")
                continue
            }
            #expect(index == next[writer])
            #expect(fields[2] == String(repeating: "x", count: (index * 7 + writer) % 200))
            next[writer] = index + 1
        }
        #expect(next == [1000, 1000, 1000, 1000])
        #expect(sink.droppedLines == 0)
    }

    @Test("after the file is renamed, reopen sends new lines to a new file at the path")
    func reopenAfterRotation() throws {
        let dir = try TemporaryDirectory()
        let sink = try Self.manualSink(dir.file("access.log"))
        defer { sink.close() }
        sink.write(Array("before\n".utf8))
        sink.flush()
        #expect(rename(dir.file("access.log"), dir.file("access.log.1")) == 0)
        sink.write(Array("queued before reopen\n".utf8))
        try sink.reopen()
        sink.write(Array("after\n".utf8))
        sink.flush()
        #expect(dir.lines("access.log.1") == ["before", "queued before reopen"])
        #expect(dir.lines("access.log") == ["after"])
    }

    @Test("lines beyond the buffer bound are dropped and counted until the buffer drains")
    func dropsWhenFull() throws {
        let dir = try TemporaryDirectory()
        let sink = try Self.manualSink(dir.file("access.log"), bufferLimit: 100)
        defer { sink.close() }
        let line = Array((String(repeating: "y", count: 29) + "\n").utf8)
        for _ in 0..<10 { sink.write(line) }
        #expect(sink.droppedLines == 7)
        sink.flush()
        sink.write(line)
        sink.flush()
        #expect(dir.lines("access.log").count == 4)
        #expect(sink.droppedLines == 7)
    }

    @Test("a closed sink drops and counts writes, and closing twice is harmless")
    func closedSinkDrops() throws {
        let dir = try TemporaryDirectory()
        let sink = try Self.manualSink(dir.file("access.log"))
        sink.write(Array("kept\n".utf8))
        sink.close()
        sink.close()
        sink.write(Array("late\n".utf8))
        sink.flush()
        try sink.reopen()
        #expect(sink.droppedLines == 1)
        #expect(dir.lines("access.log") == ["kept"])
    }

    @Test("an unopenable path fails with the path and the errno text")
    func openError() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("missing-directory/access.log")
        #expect {
            _ = try AccessLogSink(.file(path))
        } throws: { error in
            let description = String(describing: error)
            return description.contains(path) && description.contains("No such file or directory")
        }
    }

    @Test("the registry hands out one sink per destination and flushes them all")
    func registry() throws {
        let dir = try TemporaryDirectory()
        let sinks = AccessLogSinks()
        defer { sinks.closeAll() }
        let a = try sinks.sink(for: .file(dir.file("a.log")))
        #expect(try sinks.sink(for: .file(dir.file("a.log"))) === a)
        #expect(try sinks.sink(for: .file(dir.file("b.log"))) !== a)
        #expect(try sinks.sink(for: .stdout) === sinks.sink(for: .stdout))
        a.write(Array("via registry\n".utf8))
        sinks.flushAll()
        #expect(dir.lines("a.log") == ["via registry"])
        #expect(rename(dir.file("a.log"), dir.file("a.log.1")) == 0)
        #expect(sinks.reopenAll().isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir.file("a.log")))
    }
}
