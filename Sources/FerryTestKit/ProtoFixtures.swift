import Foundation

/// The protobuf schema of `Tests/FerryGRPCTests/Fixtures` (`kitchen.proto`: `ferry.test.Bookstore`
/// with its `google.api.http` rules) for tests outside FerryGRPCTests, through the real `protoc`:
/// a descriptor set for a transcoder config, and messages in and out of text format.
public enum ProtoFixtures {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Tests/FerryGRPCTests/Fixtures").path
    public static let schema = "kitchen.proto"

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `protoc` on the schema in the fixtures directory; `stdin` goes in, stdout's bytes
    /// are returned.
    static func protoc(_ arguments: String, input: String = schema, stdin: [UInt8] = []) async throws -> [UInt8] {
        let output = NSTemporaryDirectory() + "ferry-protoc-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let command = "cd '\(directory)' && protoc \(arguments) -I . -I /usr/include '\(input)' > '\(output)'"
        let run = try await ChildProcess.run("/bin/sh", ["-c", command], stdin: Data(stdin))
        guard run.status == 0 else { throw Failure(description: "protoc \(arguments): \(run.stderr)") }
        return Array(try Data(contentsOf: URL(fileURLWithPath: output)))
    }

    /// Writes the schema's `FileDescriptorSet` (imports included) to `path`; returns its bytes.
    /// `forEnvoy` leaves out the `response_body` on a non-HttpBody field, which Envoy refuses
    /// (the schema is copied next to `path` without it).
    @discardableResult
    public static func descriptorSet(at path: String, forEnvoy: Bool = false) async throws -> [UInt8] {
        var include = "", input = schema
        if forEnvoy {
            let copy = URL(fileURLWithPath: path).deletingLastPathComponent()
            let text = try String(contentsOfFile: directory + "/" + schema, encoding: .utf8)
                .replacingOccurrences(of: #" response_body: "books""#, with: "")
            try text.write(to: copy.appendingPathComponent(schema), atomically: true, encoding: .utf8)
            include = "-I '\(copy.path)' "
            input = copy.appendingPathComponent(schema).path
        }
        _ = try await protoc(include + "--include_imports --descriptor_set_out='\(path)'", input: input)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A message of `type` (e.g. `ferry.test.Book`) from text format to wire format.
    public static func encode(_ type: String, _ text: String) async throws -> [UInt8] {
        try await protoc("--encode=\(type)", stdin: Array(text.utf8))
    }

    /// A message of `type` from wire format to text format.
    public static func decode(_ type: String, _ bytes: [UInt8]) async throws -> String {
        String(decoding: try await protoc("--decode=\(type)", stdin: bytes), as: UTF8.self)
    }
}
