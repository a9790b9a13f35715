#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one runtime disk layer's directory as Envoy's `DiskLayer` does: every regular file
/// below it (symlinks followed, at most 16 levels) is a key, its path under the directory with
/// `/` read as `.` (`fault/http/abort/abort_percent` → `fault.http.abort.abort_percent`); the
/// value is the file's lines without empty lines and `#` comments, the last one right-trimmed.
enum RuntimeDiskReader {
    enum Outcome: Equatable {
        /// The directory does not exist: the layer is left out, as in Envoy.
        case missing
        /// Envoy drops a layer it cannot read (and counts runtime.load_error).
        case failed(String)
        case values([String: String])
    }

    static let maxDepth = 16

    static func scan(directory: String) -> Outcome {
        guard isDirectory(directory) else { return .missing }
        var values: [String: String] = [:]
        do {
            try walk(directory, prefix: "", depth: 1, into: &values)
        } catch let error as ReadError {
            return .failed(error.message)
        } catch {
            return .failed("\(error)")
        }
        return .values(values)
    }

    struct ReadError: Error {
        var message: String
    }

    private static func walk(_ path: String, prefix: String, depth: Int, into values: inout [String: String]) throws {
        guard depth <= maxDepth else { throw ReadError(message: "Walk recursion depth exceeded \(maxDepth)") }
        // Envoy's illegalPath: device and kernel trees are never read.
        for illegal in ["/dev", "/sys", "/proc"] where path == illegal || path.hasPrefix(illegal + "/") {
            throw ReadError(message: "Invalid path: \(path)")
        }
        guard let dir = opendir(path) else { throw ReadError(message: "cannot open \(path): \(Self.lastError)") }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let full = path + "/" + name
            let key = prefix.isEmpty ? name : prefix + "." + name
            var info = stat()
            guard stat(full, &info) == 0 else { throw ReadError(message: "cannot stat \(full): \(Self.lastError)") }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try walk(full, prefix: key, depth: depth + 1, into: &values)
            case S_IFREG: values[key] = value(of: try contents(of: full))
            default: continue
            }
        }
    }

    /// Envoy's rule: split on newlines dropping empty lines, skip `#` lines, join with `\n`,
    /// right-trim the last line (compared by content, as Envoy does).
    static func value(of bytes: [UInt8]) -> String {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        var value: [UInt8] = []
        for line in lines where line.first != UInt8(ascii: "#") {
            if line.elementsEqual(lines.last!) {
                value += line.reversed().drop { [0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].contains($0) }.reversed()
            } else {
                value += line
                value.append(UInt8(ascii: "\n"))
            }
        }
        return String(decoding: value, as: UTF8.self)
    }

    private static var lastError: String { String(cString: strerror(errno)) }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    static func contents(of path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ReadError(message: "cannot read \(path): \(Self.lastError)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(message: "cannot read \(path): \(Self.lastError)")
            }
            if n == 0 { return bytes }
            bytes += chunk[..<n]
        }
    }
}
