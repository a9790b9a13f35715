/// One field value of a `DynamicMessage`. The field's descriptor says how it is encoded
/// (`.signed` covers int32/int64/sint*/sfixed*, `.unsigned` uint*/fixed*).
public indirect enum ProtoValue: Sendable, Equatable {
    case signed(Int64)
    case unsigned(UInt64)
    case float(Float)
    case double(Double)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    case enumNumber(Int32)
    case message(DynamicMessage)
}

/// A message as field number → values, described by a `MessageDescriptor`: the meeting point
/// of the binary and JSON forms. Singular fields hold one value, repeated fields (and maps, as
/// their entry messages) hold all of theirs in order. A field that is absent was not set.
public struct DynamicMessage: Sendable, Equatable {
    public let descriptor: MessageDescriptor
    public internal(set) var values: [Int: [ProtoValue]] = [:]

    public init(_ descriptor: MessageDescriptor) {
        self.descriptor = descriptor
    }

    public static func == (a: DynamicMessage, b: DynamicMessage) -> Bool {
        a.descriptor === b.descriptor && a.values == b.values
    }

    subscript(field: Int) -> [ProtoValue] {
        get { values[field] ?? [] }
        set { values[field] = newValue.isEmpty ? nil : newValue }
    }

    /// The single value of a singular field, if set.
    public func value(_ field: Int) -> ProtoValue? { values[field]?.last }

    /// Sets a singular field, clearing the other members of its oneof.
    mutating func set(_ field: FieldDescriptor, _ value: ProtoValue) {
        if let oneof = field.oneofIndex {
            for other in descriptor.fields where other.oneofIndex == oneof && other.number != field.number {
                values[other.number] = nil
            }
        }
        values[field.number] = [value]
    }
}

extension FieldDescriptor {
    /// The value a field of implicit presence has when it is absent.
    var defaultValue: ProtoValue {
        switch type {
        case .int32, .int64, .sint32, .sint64, .sfixed32, .sfixed64: return .signed(0)
        case .uint32, .uint64, .fixed32, .fixed64: return .unsigned(0)
        case .float: return .float(0)
        case .double: return .double(0)
        case .bool: return .bool(false)
        case .string: return .string("")
        case .bytes: return .bytes([])
        case .enum: return .enumNumber(0)
        case .message, .group: return .bytes([])  // never used: message fields have presence
        }
    }
}
