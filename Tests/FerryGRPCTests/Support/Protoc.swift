import Foundation
import Testing

@testable import FerryGRPC

/// Runs the real `protoc` (and Python's protobuf `json_format`) on the fixture schema: the
/// independent reference for the binary encoding and the JSON mapping. CI installs both
/// (scripts/install-test-deps); when they are missing the tests fail rather than skip.
enum Protoc {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path
    static let schema = "kitchen.proto"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs a program with stdin, returns stdout; a non-zero exit is a `Failure` with stderr.
    static func run(_ arguments: [String], stdin: [UInt8] = []) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: fixtures)
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Write and read on separate threads so neither pipe can fill up and block the other.
        let writer = Thread {
            // The throwing write: a program that exits without reading (or is missing) makes
            // this EPIPE, which the non-throwing `write(_:)` turns into a crash of the runner.
            try? input.fileHandleForWriting.write(contentsOf: Data(stdin))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let stdoutData = output.fileHandleForReading.readDataToEndOfFile()
        let stderrData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: stderrData, as: UTF8.self))")
        }
        return Array(stdoutData)
    }

    private static let includes = ["-I", ".", "-I", "/usr/include"]

    /// The FileDescriptorSet of the fixture schema with its imports, made once per test run.
    static let descriptorSet: Result<[UInt8], Error> = Result {
        let path = NSTemporaryDirectory() + "ferry-grpc-kitchen-\(getpid()).pb"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try run(["protoc"] + includes + ["--include_imports", "--descriptor_set_out=\(path)", schema])
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func descriptorBytes() throws -> [UInt8] { try descriptorSet.get() }

    static func pool() throws -> DescriptorPool { try DescriptorPool(fileDescriptorSet: descriptorBytes()) }

    /// Text format → wire format, by protoc.
    static func encode(_ type: String, _ text: String) throws -> [UInt8] {
        try run(["protoc"] + includes + ["--encode=\(type)", schema], stdin: Array(text.utf8))
    }

    /// Wire format → text format, by protoc.
    static func decode(_ type: String, _ bytes: [UInt8]) throws -> String {
        String(decoding: try run(["protoc"] + includes + ["--decode=\(type)", schema], stdin: bytes), as: UTF8.self)
    }

    /// Wire format → JSON by Python's json_format (the reference proto3 JSON printer).
    static func referenceJSON(_ type: String, _ bytes: [UInt8], alwaysPrint: Bool = false, enumsAsInts: Bool = false,
                              protoNames: Bool = false) throws -> JSONValue {
        let setPath = NSTemporaryDirectory() + "ferry-grpc-py-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).pb"
        try Data(descriptorBytes()).write(to: URL(fileURLWithPath: setPath))
        defer { try? FileManager.default.removeItem(atPath: setPath) }
        let script = """
            import sys
            from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, json_format
            fds = descriptor_pb2.FileDescriptorSet.FromString(open(sys.argv[1], 'rb').read())
            pool = descriptor_pool.DescriptorPool()
            for f in fds.file: pool.Add(f)
            cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(sys.argv[2]))
            m = cls.FromString(sys.stdin.buffer.read())
            print(json_format.MessageToJson(m, descriptor_pool=pool, always_print_fields_with_no_presence=sys.argv[3] == '1',
                  use_integers_for_enums=sys.argv[4] == '1', preserving_proto_field_name=sys.argv[5] == '1'))
            """
        let out = try run(["python3", "-c", script, setPath, type, alwaysPrint ? "1" : "0", enumsAsInts ? "1" : "0",
                           protoNames ? "1" : "0"], stdin: bytes)
        return try JSONParser.parse(out)
    }
}

extension JSONValue {
    /// For comparing JSON from two printers: object members sorted by key, numbers by value.
    /// Float fields print with 9 digits in C++ (Envoy) and shortest in Python, so numbers that
    /// are the same float count as equal (`3.40282347e+38` and `3.4028235e+38`).
    var normalized: JSONValue {
        switch self {
        case .object(let members):
            return .object(members.map { ($0.key, $0.value.normalized) }.sorted { $0.key < $1.key })
        case .array(let elements): return .array(elements.map(\.normalized))
        default: return self
        }
    }

    func sameJSON(as other: JSONValue) -> Bool {
        switch (normalized, other.normalized) {
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value.sameJSON(as: $1.value) }
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.sameJSON(as: $1) }
        case (.number(let a), .number(let b)):
            guard let x = Double(a), let y = Double(b) else { return a == b }
            return x == y || (x.isNaN && y.isNaN) || Float(x) == Float(y)
        case (let a, let b):
            return a == b
        }
    }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}
