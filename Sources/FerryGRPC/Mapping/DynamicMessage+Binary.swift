/// Binary wire format of a `DynamicMessage`. Encoding writes fields in number order (so the
/// output is deterministic), repeated scalars packed as the descriptor says, and every field
/// that was set, even to its default (as Envoy's transcoder writes what the JSON gave). Decoding accepts packed and unpacked
/// repeated scalars alike, merges repeated occurrences of a singular message field, keeps the
/// last occurrence of a singular scalar and skips unknown fields (and known fields with an
/// unexpected wire type, as protobuf does).
extension DynamicMessage {
    /// Recursion limit for nested messages, as protobuf's default.
    static let maxNesting = 100

    public init(decoding bytes: [UInt8], as descriptor: MessageDescriptor, pool: DescriptorPool) throws {
        self.init(descriptor)
        var reader = WireReader(bytes)
        try merge(from: &reader, pool: pool, depth: 0)
    }

    mutating func merge(from reader: inout WireReader, pool: DescriptorPool, depth: Int) throws {
        guard depth < Self.maxNesting else { throw TranscodingError.malformedProtobuf("messages nested deeper than \(Self.maxNesting)") }
        while !reader.isAtEnd {
            let (number, wireType) = try reader.readTag()
            guard let field = descriptor.field(number: number) else {
                try reader.skip(wireType, field: number)
                continue
            }
            if field.isRepeated && field.type.isPackable && wireType == .lengthDelimited {
                var packed = try reader.subReader()
                var list = self[number]
                while !packed.isAtEnd { list.append(try Self.readScalar(field, from: &packed)) }
                self[number] = list
                continue
            }
            guard wireType == field.type.wireType else {
                try reader.skip(wireType, field: number)
                continue
            }
            let value: ProtoValue
            if field.type == .message {
                var sub = try reader.subReader()
                var message: DynamicMessage
                if !field.isRepeated, case .message(let existing)? = self.value(number) {
                    message = existing
                } else {
                    message = DynamicMessage(try pool.message(field.typeName))
                }
                try message.merge(from: &sub, pool: pool, depth: depth + 1)
                value = .message(message)
            } else if field.type == .group {
                throw TranscodingError.malformedProtobuf("group field \(descriptor.fullName).\(field.name) is not supported yet by Ferry")
            } else {
                value = try Self.readScalar(field, from: &reader)
            }
            if field.isRepeated { self[number].append(value) } else { set(field, value) }
        }
    }

    static func readScalar(_ field: FieldDescriptor, from r: inout WireReader) throws -> ProtoValue {
        switch field.type {
        case .int32: return .signed(Int64(Int32(truncatingIfNeeded: try r.readVarint())))
        case .int64: return .signed(Int64(bitPattern: try r.readVarint()))
        case .uint32: return .unsigned(UInt64(UInt32(truncatingIfNeeded: try r.readVarint())))
        case .uint64: return .unsigned(try r.readVarint())
        case .sint32: return .signed(Int64(Int32(truncatingIfNeeded: ZigZag.decode(try r.readVarint()))))
        case .sint64: return .signed(ZigZag.decode(try r.readVarint()))
        case .bool: return .bool(try r.readVarint() != 0)
        case .enum: return .enumNumber(Int32(truncatingIfNeeded: try r.readVarint()))
        case .fixed32: return .unsigned(UInt64(try r.readFixed32()))
        case .sfixed32: return .signed(Int64(Int32(bitPattern: try r.readFixed32())))
        case .float: return .float(Float(bitPattern: try r.readFixed32()))
        case .fixed64: return .unsigned(try r.readFixed64())
        case .sfixed64: return .signed(Int64(bitPattern: try r.readFixed64()))
        case .double: return .double(Double(bitPattern: try r.readFixed64()))
        case .string:
            do { return .string(try r.readString()) } catch {
                throw TranscodingError.malformedProtobuf("malformed protobuf: field \(field.name) is not valid UTF-8 or truncated")
            }
        case .bytes: return .bytes(try r.readLengthDelimited())
        case .message, .group: throw TranscodingError.malformedProtobuf("malformed protobuf: \(field.name) is not a scalar")
        }
    }

    /// The message in wire format.
    public func encoded() -> [UInt8] {
        var writer = WireWriter()
        encode(into: &writer)
        return writer.bytes
    }

    func encode(into w: inout WireWriter) {
        for number in values.keys.sorted() {
            guard let field = descriptor.field(number: number), let list = values[number] else { continue }
            if field.isPacked {
                var payload = WireWriter()
                for v in list { Self.writeScalar(v, field.type, into: &payload) }
                w.writeTag(number, .lengthDelimited)
                w.writeLengthDelimited(payload.bytes)
                continue
            }
            for v in list {
                w.writeTag(number, field.type.wireType)
                if case .message(let m) = v {
                    w.writeLengthDelimited(m.encoded())
                } else {
                    Self.writeScalar(v, field.type, into: &w)
                }
            }
        }
    }

    static func writeScalar(_ v: ProtoValue, _ type: FieldType, into w: inout WireWriter) {
        switch (type, v) {
        case (.int32, .signed(let i)), (.int64, .signed(let i)): w.writeVarint(UInt64(bitPattern: i))
        case (.sint32, .signed(let i)), (.sint64, .signed(let i)): w.writeVarint(ZigZag.encode(i))
        case (.sfixed32, .signed(let i)): w.writeFixed32(UInt32(bitPattern: Int32(truncatingIfNeeded: i)))
        case (.sfixed64, .signed(let i)): w.writeFixed64(UInt64(bitPattern: i))
        case (.uint32, .unsigned(let u)), (.uint64, .unsigned(let u)): w.writeVarint(u)
        case (.fixed32, .unsigned(let u)): w.writeFixed32(UInt32(truncatingIfNeeded: u))
        case (.fixed64, .unsigned(let u)): w.writeFixed64(u)
        case (.float, .float(let f)): w.writeFixed32(f.bitPattern)
        case (.double, .double(let d)): w.writeFixed64(d.bitPattern)
        case (.bool, .bool(let b)): w.writeVarint(b ? 1 : 0)
        case (.enum, .enumNumber(let n)): w.writeVarint(UInt64(bitPattern: Int64(n)))
        case (.string, .string(let s)): w.writeLengthDelimited(s)
        case (.bytes, .bytes(let b)): w.writeLengthDelimited(b)
        default: preconditionFailure("value \(v) does not fit field type \(type)")
        }
    }
}
