/// Prints a `DynamicMessage` as JSON following protobuf's canonical proto3 JSON mapping, as
/// Envoy's transcoder prints it: fields in declaration order, map entries in wire order, and
/// every field that is on the wire, even one holding its default (Envoy renders the wire, not
/// a parsed message). The same bytes always print the same JSON.
struct MessageToJSON {
    let pool: DescriptorPool
    let options: JSONPrintOptions
    /// How many `Any` values enclose this one. Each decodes its own bytes with the binary
    /// decoder's nesting limit (100), so this bounds the printer's recursion (and stack) at
    /// `maxAnyDepth` × 100 messages.
    var anyDepth = 0
    static let maxAnyDepth = 5

    func json(_ message: DynamicMessage) throws -> JSONValue {
        if let special = try wellKnown(message) { return special }
        var members: [(key: String, value: JSONValue)] = []
        try appendFields(of: message, to: &members)
        return .object(members)
    }

    func appendFields(of message: DynamicMessage, to members: inout [(key: String, value: JSONValue)]) throws {
        for field in message.descriptor.fields {
            guard let v = try fieldJSON(message, field) else { continue }
            members.append((options.preserveProtoFieldNames ? field.name : field.jsonName, v))
        }
    }

    /// The JSON of one field, or nil when it is not printed.
    func fieldJSON(_ message: DynamicMessage, _ field: FieldDescriptor) throws -> JSONValue? {
        let list = message[field.number]
        if field.isRepeated {
            if list.isEmpty && !options.alwaysPrintPrimitiveFields { return nil }
            if try isMap(field) { return try mapJSON(list, field) }
            return .array(try list.map { try valueJSON($0, field) })
        }
        guard let v = list.last else {
            guard options.alwaysPrintPrimitiveFields, !field.hasExplicitPresence else { return nil }
            return try valueJSON(field.defaultValue, field)
        }
        return try valueJSON(v, field)
    }

    /// The JSON of a field that is printed even when unset (`response_body`): its default.
    func fieldJSONOrDefault(_ message: DynamicMessage, _ field: FieldDescriptor) throws -> JSONValue {
        if let v = try fieldJSON(message, field) { return v }
        if field.isRepeated { return try isMap(field) ? .object([]) : .array([]) }
        if field.type == .message { return try json(DynamicMessage(try pool.message(field.typeName))) }
        return try valueJSON(field.defaultValue, field)
    }

    private func isMap(_ field: FieldDescriptor) throws -> Bool {
        try field.type == .message && (try pool.message(field.typeName)).isMapEntry
    }

    private func mapJSON(_ entries: [ProtoValue], _ field: FieldDescriptor) throws -> JSONValue {
        let entryType = try pool.message(field.typeName)
        guard let keyField = entryType.field(number: 1), let valueField = entryType.field(number: 2) else {
            throw TranscodingError.invalidDescriptor("map entry \(entryType.fullName) lacks key or value")
        }
        // Keys print in the order they first came on the wire (as Envoy prints them); the last
        // entry of a key gives its value, as when parsing a map.
        var order: [String] = []
        var byKey: [String: JSONValue] = [:]
        for case .message(let entry) in entries {
            let key = mapKeyText(entry.value(1) ?? keyField.defaultValue)
            let value = try entry.value(2) ?? (valueField.type == .message
                                           ? .message(DynamicMessage(try pool.message(valueField.typeName)))
                                           : valueField.defaultValue)
            if byKey.updateValue(try valueJSON(value, valueField), forKey: key) == nil { order.append(key) }
        }
        return .object(order.map { ($0, byKey[$0]!) })
    }

    func valueJSON(_ value: ProtoValue, _ field: FieldDescriptor) throws -> JSONValue {
        switch value {
        case .signed(let i):
            return field.type == .int64 || field.type == .sint64 || field.type == .sfixed64 ? .string(String(i)) : .number(String(i))
        case .unsigned(let u):
            return field.type == .uint64 || field.type == .fixed64 ? .string(String(u)) : .number(String(u))
        case .float(let f):
            if f.isNaN { return .string("NaN") }
            if f.isInfinite { return .string(f < 0 ? "-Infinity" : "Infinity") }
            return .number(NumberText.format(f))
        case .double(let d):
            if d.isNaN { return .string("NaN") }
            if d.isInfinite { return .string(d < 0 ? "-Infinity" : "Infinity") }
            return .number(NumberText.format(d))
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .bytes(let b): return .string(Base64.encode(b))
        case .enumNumber(let n):
            let type = try pool.enumType(field.typeName)
            if type.fullName == WellKnown.nullValue { return .null }
            if options.alwaysPrintEnumsAsInts { return .number(String(n)) }
            if let name = type.name(of: n) { return .string(name) }
            return .number(String(n))
        case .message(let m): return try json(m)
        }
    }
}

/// The JSON object key of a map entry's key.
func mapKeyText(_ value: ProtoValue) -> String {
    switch value {
    case .signed(let i): return String(i)
    case .unsigned(let u): return String(u)
    case .bool(let b): return b ? "true" : "false"
    case .string(let s): return s
    default: return ""
    }
}
