/// The symbol table of a `FileDescriptorSet`: every message, enum and service by full name.
///
/// `init(fileDescriptorSet:)` decodes the set and checks that every field's `type_name` and
/// every method's input and output type resolve, naming the first that does not.
public struct DescriptorPool: Sendable {
    public private(set) var messages: [String: MessageDescriptor] = [:]
    public private(set) var enums: [String: EnumDescriptor] = [:]
    public private(set) var services: [String: ServiceDescriptor] = [:]

    public init(fileDescriptorSet bytes: [UInt8]) throws {
        var reader = WireReader(bytes)
        while !reader.isAtEnd {
            let (field, type) = try reader.readTag()
            if field == 1 && type == .lengthDelimited {
                var file = try reader.subReader()
                try DescriptorDecoder.decodeFile(&file, into: &self)
            } else {
                try reader.skip(type, field: field)
            }
        }
        try resolve()
    }

    public func message(_ name: String) throws -> MessageDescriptor {
        guard let m = messages[name] else { throw TranscodingError.invalidDescriptor("message type \(name) is not in the descriptor set") }
        return m
    }

    public func enumType(_ name: String) throws -> EnumDescriptor {
        guard let e = enums[name] else { throw TranscodingError.invalidDescriptor("enum type \(name) is not in the descriptor set") }
        return e
    }

    mutating func add(_ message: MessageDescriptor) throws {
        guard messages[message.fullName] == nil else { throw duplicate(message.fullName) }
        messages[message.fullName] = message
    }

    mutating func add(_ enumType: EnumDescriptor) throws {
        guard enums[enumType.fullName] == nil else { throw duplicate(enumType.fullName) }
        enums[enumType.fullName] = enumType
    }

    mutating func add(_ service: ServiceDescriptor) throws {
        guard services[service.fullName] == nil else { throw duplicate(service.fullName) }
        services[service.fullName] = service
    }

    private func duplicate(_ name: String) -> TranscodingError {
        .invalidDescriptor("\(name) is defined twice in the descriptor set")
    }

    private func resolve() throws {
        try checkWellKnownTypes()
        for message in messages.values.sorted(by: { $0.fullName < $1.fullName }) {
            for f in message.fields {
                switch f.type {
                case .message, .group:
                    guard messages[f.typeName] != nil else {
                        throw TranscodingError.invalidDescriptor(
                            "field \(message.fullName).\(f.name) refers to message type \(f.typeName), which is not in the descriptor set (was it built with --include_imports?)")
                    }
                case .enum:
                    guard enums[f.typeName] != nil else {
                        throw TranscodingError.invalidDescriptor(
                            "field \(message.fullName).\(f.name) refers to enum type \(f.typeName), which is not in the descriptor set (was it built with --include_imports?)")
                    }
                default: break
                }
            }
        }
        for service in services.values.sorted(by: { $0.fullName < $1.fullName }) {
            for m in service.methods {
                for type in [m.inputType, m.outputType] where messages[type] == nil {
                    throw TranscodingError.invalidDescriptor(
                        "method \(service.fullName).\(m.name) uses message type \(type), which is not in the descriptor set (was it built with --include_imports?)")
                }
            }
        }
    }
}
