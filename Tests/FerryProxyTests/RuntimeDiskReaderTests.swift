import Foundation
import Testing

@testable import FerryProxy

/// Envoy's disk layer rules: keys from paths, values from file lines, symlinks followed, a
/// missing directory versus one that cannot be read.
@Suite("Runtime disk layer reader")
struct RuntimeDiskReaderTests {
    /// A fresh directory with `files` (relative path → content), removed after `body`.
    static func tree(_ files: [String: String], _ body: (URL) throws -> Void) throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-rt-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        for (path, content) in files {
            let file = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try content.write(to: file, atomically: true, encoding: .utf8)
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try body(root)
    }

    @Test("each file is a key named by its path with dots; nested directories and symlinks are followed")
    func keys() throws {
        try Self.tree(["fault/http/abort/abort_percent": "50\n", "plain": "x", "elsewhere/value": "7"]) { root in
            try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("linked"),
                                                       withDestinationURL: root.appendingPathComponent("elsewhere"))
            let outcome = RuntimeDiskReader.scan(directory: root.path)
            #expect(outcome == .values(["fault.http.abort.abort_percent": "50", "plain": "x", "elsewhere.value": "7",
                                        "linked.value": "7"]))
        }
    }

    @Test("values drop empty lines and # comments and right-trim the last line, as Envoy's DiskLayer")
    func values() {
        func value(_ text: String) -> String { RuntimeDiskReader.value(of: Array(text.utf8)) }
        #expect(value("100\n") == "100")
        #expect(value("  42  \t\r\n") == "  42")
        #expect(value("# placeholder\n") == "")
        #expect(value("# why\n25\n") == "25")
        #expect(value("a\n\nb\n") == "a\nb")
        // Envoy compares the last line by content: a comment last leaves the others untrimmed.
        #expect(value("1 \n# end\n") == "1 \n")
    }

    @Test("a missing directory is missing; a tree deeper than 16 levels or under /proc is refused")
    func failures() throws {
        #expect(RuntimeDiskReader.scan(directory: "/nonexistent/ferry/runtime") == .missing)
        let deep = (1...17).map { "d\($0)" }.joined(separator: "/") + "/key"
        try Self.tree([deep: "1"]) { root in
            guard case .failed(let reason) = RuntimeDiskReader.scan(directory: root.path) else {
                Issue.record("a 17-level tree was read")
                return
            }
            #expect(reason.contains("depth"))
        }
        guard case .failed(let reason) = RuntimeDiskReader.scan(directory: "/proc/self") else {
            Issue.record("/proc was read")
            return
        }
        #expect(reason.contains("Invalid path"))
    }
}
