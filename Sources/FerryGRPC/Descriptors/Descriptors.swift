/// The protobuf descriptor model Ferry transcodes with, decoded from a `FileDescriptorSet`
/// (`protoc --include_imports --descriptor_set_out`). Only what transcoding needs is kept.
/// All names are fully qualified without the leading dot (`pkg.Outer.Inner`).

/// `FieldDescriptorProto.Type`.
public enum FieldType: Int, Sendable {
    case double = 1, float = 2, int64 = 3, uint64 = 4, int32 = 5, fixed64 = 6, fixed32 = 7, bool = 8
    case string = 9, group = 10, message = 11, bytes = 12, uint32 = 13, `enum` = 14
    case sfixed32 = 15, sfixed64 = 16, sint32 = 17, sint64 = 18

    /// Scalar numeric types may be packed.
    var isPackable: Bool { self != .string && self != .bytes && self != .message && self != .group }

    var wireType: WireType {
        switch self {
        case .double, .fixed64, .sfixed64: return .fixed64
        case .float, .fixed32, .sfixed32: return .fixed32
        case .string, .bytes, .message: return .lengthDelimited
        case .group: return .startGroup
        default: return .varint
        }
    }
}

public struct FieldDescriptor: Sendable {
    public let name: String
    public let number: Int
    public let type: FieldType
    public let isRepeated: Bool
    /// Message or enum type, fully qualified; empty for scalars.
    public let typeName: String
    /// `json_name` from the descriptor, else the lowerCamel form of `name`.
    public let jsonName: String
    /// Index into `MessageDescriptor.oneofs` for members of a real (non-synthetic) oneof.
    public let oneofIndex: Int?
    /// `optional` in proto3 (or any singular field in proto2): presence is tracked.
    public let hasExplicitPresence: Bool
    /// Repeated scalars are written packed (proto3 default; `[packed = true]` in proto2).
    public let isPacked: Bool
}

public final class MessageDescriptor: Sendable {
    public let fullName: String
    /// Fields in declaration order; JSON output follows this order.
    public let fields: [FieldDescriptor]
    /// Names of real oneofs (synthetic proto3-optional oneofs are left out).
    public let oneofs: [String]
    public let isMapEntry: Bool
    let indexByNumber: [Int: Int]
    let indexByName: [String: Int]

    init(fullName: String, fields: [FieldDescriptor], oneofs: [String], isMapEntry: Bool) {
        self.fullName = fullName
        self.fields = fields
        self.oneofs = oneofs
        self.isMapEntry = isMapEntry
        var byNumber: [Int: Int] = [:]
        var byName: [String: Int] = [:]
        for (i, f) in fields.enumerated() {
            byNumber[f.number] = i
            byName[f.name] = i
        }
        // JSON names second so that a proto name always wins over another field's json_name.
        for (i, f) in fields.enumerated() where byName[f.jsonName] == nil { byName[f.jsonName] = i }
        indexByNumber = byNumber
        indexByName = byName
    }

    public func field(number: Int) -> FieldDescriptor? { indexByNumber[number].map { fields[$0] } }

    /// Looks a field up by its proto name or its JSON name.
    public func field(named name: String) -> FieldDescriptor? { indexByName[name].map { fields[$0] } }
}

public struct EnumDescriptor: Sendable {
    public let fullName: String
    /// Values in declaration order.
    public let values: [(name: String, number: Int32)]
    let numberByName: [String: Int32]
    let nameByNumber: [Int32: String]

    init(fullName: String, values: [(name: String, number: Int32)]) {
        self.fullName = fullName
        self.values = values
        var byName: [String: Int32] = [:]
        var byNumber: [Int32: String] = [:]
        for v in values {
            byName[v.name] = v.number
            // The first name of an aliased number is the one printed.
            if byNumber[v.number] == nil { byNumber[v.number] = v.name }
        }
        numberByName = byName
        nameByNumber = byNumber
    }

    public func number(named name: String) -> Int32? { numberByName[name] }
    public func name(of number: Int32) -> String? { nameByNumber[number] }
}

public struct MethodDescriptor: Sendable {
    public let name: String
    /// `pkg.Service`.
    public let serviceName: String
    public let inputType: String
    public let outputType: String
    public let clientStreaming: Bool
    public let serverStreaming: Bool
    /// The `google.api.http` option, if any.
    public let httpRule: HttpRule?

    /// The gRPC request path, `/pkg.Service/Method`.
    public var grpcPath: String { "/\(serviceName)/\(name)" }
}

public struct ServiceDescriptor: Sendable {
    public let fullName: String
    public let methods: [MethodDescriptor]
}

/// `google.api.HttpRule` (http.proto): one HTTP binding of a method plus its additional ones.
public struct HttpRule: Sendable, Equatable {
    /// `GET`, `PUT`, `POST`, `DELETE`, `PATCH` or a custom pattern's `kind`.
    public var method: String
    public var path: String
    /// "" (no body), "*" (every field not bound by the path) or a top-level field name.
    public var body: String
    /// "" (the whole response message) or a top-level field of the response.
    public var responseBody: String
    public var additionalBindings: [HttpRule]

    public init(method: String, path: String, body: String = "", responseBody: String = "",
                additionalBindings: [HttpRule] = []) {
        self.method = method
        self.path = path
        self.body = body
        self.responseBody = responseBody
        self.additionalBindings = additionalBindings
    }
}
