import Foundation
import Testing

@testable import FerryGRPC

@Suite("Descriptor sets")
struct DescriptorTests {
    @Test("messages, nested types, fields, maps, oneofs and enums resolve by full name")
    func messages() throws {
        let pool = try Protoc.pool()
        let kitchen = try pool.message("ferry.test.Kitchen")
        #expect(pool.messages["ferry.test.Kitchen.Inner.Deeper"] != nil)
        #expect(kitchen.oneofs == ["choice"], "synthetic oneofs of proto3 optional fields are left out")
        let choice = try #require(kitchen.field(named: "choice_inner"))
        #expect(choice.oneofIndex == 0 && choice.type == .message && choice.typeName == "ferry.test.Kitchen.Inner")
        let optInt = try #require(kitchen.field(named: "optInt"))
        #expect(optInt.hasExplicitPresence && optInt.oneofIndex == nil)
        #expect(kitchen.field(named: "renamed")?.name == "custom_json")
        #expect(kitchen.field(named: "custom_json")?.jsonName == "renamed")
        let strMap = try #require(kitchen.field(number: 4))
        let strMapEntry = try pool.message(strMap.typeName)
        #expect(strMap.isRepeated && strMapEntry.isMapEntry)
        let scalars = try pool.message("ferry.test.Scalars")
        #expect(scalars.field(named: "f_int32")?.hasExplicitPresence == false)
        #expect(scalars.fields.map(\.type) == [.double, .float, .int64, .uint64, .int32, .fixed64, .fixed32, .bool, .string,
                                              .bytes, .uint32, .enum, .sfixed32, .sfixed64, .sint32, .sint64])
        let repeated = try pool.message("ferry.test.Repeated")
        #expect(repeated.field(named: "r_int32")?.isPacked == true)
        #expect(repeated.field(named: "r_unpacked")?.isPacked == false)
        #expect(repeated.field(named: "r_string")?.isPacked == false)
        let color = try pool.enumType("ferry.test.Color")
        #expect(color.number(named: "BLUE") == -3 && color.name(of: 1) == "RED")
    }

    @Test("services carry streaming flags and google.api.http rules with additional bindings")
    func services() throws {
        let pool = try Protoc.pool()
        let service = try #require(pool.services["ferry.test.Bookstore"])
        let byName = Dictionary(uniqueKeysWithValues: service.methods.map { ($0.name, $0) })
        let get = try #require(byName["GetBook"])
        #expect(get.inputType == "ferry.test.GetBookRequest" && get.outputType == "ferry.test.Book")
        #expect(get.grpcPath == "/ferry.test.Bookstore/GetBook")
        #expect(get.httpRule == HttpRule(method: "GET", path: "/v1/shelves/{shelf}/books/{book}", additionalBindings: [
            HttpRule(method: "GET", path: "/v1/{name=publishers/*/books/*}"),
            HttpRule(method: "GET", path: "/v1/files/{shelf}/latest"),
            HttpRule(method: "GET", path: "/v2/books/{book}:peek"),
        ]))
        #expect(byName["ListBooks"]?.httpRule?.responseBody == "books")
        #expect(byName["CreateBook"]?.httpRule?.body == "book")
        #expect(byName["GetAnything"]?.httpRule?.additionalBindings.first == HttpRule(method: "HEAD", path: "/v1/files/{name=**}"))
        #expect(byName["StreamBooks"].map { !$0.clientStreaming && $0.serverStreaming } == true)
        #expect(byName["UploadBooks"].map { $0.clientStreaming && !$0.serverStreaming && $0.httpRule == nil } == true)
        #expect(byName["Chat"].map { $0.clientStreaming && $0.serverStreaming } == true)
    }

    @Test("a set built without --include_imports names the missing type")
    func missingImports() throws {
        let path = NSTemporaryDirectory() + "ferry-grpc-noimports-\(getpid()).pb"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try Protoc.run(["protoc", "-I", ".", "-I", "/usr/include", "--descriptor_set_out=\(path)", Protoc.schema])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let error = #expect(throws: TranscodingError.self) { try DescriptorPool(fileDescriptorSet: bytes) }
        #expect(error?.message.contains("which is not in the descriptor set (was it built with --include_imports?)") == true)
        #expect(error?.message.contains("google.protobuf.") == true, "\(String(describing: error))")
    }

    @Test("bytes that are not a descriptor set are an error, never a crash")
    func garbage() throws {
        let valid = try Protoc.descriptorBytes()
        #expect(throws: TranscodingError.self) { try DescriptorPool(fileDescriptorSet: Array(valid.prefix(valid.count / 2))) }
        #expect(throws: TranscodingError.self) { try DescriptorPool(fileDescriptorSet: [0x0A, 0xFF]) }
        var rng = SplitMix(seed: 7)
        for _ in 0..<300 {
            var bytes = valid
            for _ in 0..<3 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? DescriptorPool(fileDescriptorSet: bytes)
        }
    }

    @Test("a redefined well-known type is refused rather than mis-encoded")
    func redefinedWellKnownType() throws {
        let path = NSTemporaryDirectory() + "ferry-grpc-badwkt-\(getpid()).pb"
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try Protoc.run(["protoc", "-I", ".", "--descriptor_set_out=\(path)", "bad_timestamp.proto"])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let error = #expect(throws: TranscodingError.self) { try DescriptorPool(fileDescriptorSet: bytes) }
        #expect(error?.message.contains("defines google.protobuf.Timestamp differently") == true)
    }

    @Test("a type defined twice is an error")
    func duplicates() throws {
        let valid = try Protoc.descriptorBytes()
        let error = #expect(throws: TranscodingError.self) { try DescriptorPool(fileDescriptorSet: valid + valid) }
        #expect(error?.message.contains("is defined twice") == true)
    }
}
