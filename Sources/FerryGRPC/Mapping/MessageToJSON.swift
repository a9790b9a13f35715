/// Prints a `DynamicMessage` as JSON following protobuf's canonical proto3 JSON mapping.
/// Fields come in declaration order, map entries sorted by key, so the same message always
/// prints the same bytes.
struct MessageToJSON {
    let pool: DescriptorPool
    let options: JSONPrintOptions
    /// How many `Any` values enclose this one; each decodes its own bytes, so the nesting
    /// limit of the binary decoder does not bound them.
    var anyDepth = 0
    static let maxAnyDepth = 20

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
        if !field.hasExplicitPresence && field.isDefault(v) && !options.alwaysPrintPrimitiveFields { return nil }
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
        // Last entry of a key wins, as when parsing a map from the wire.
        var byKey: [MapKey: JSONValue] = [:]
        for case .message(let entry) in entries {
            let key = MapKey(entry.value(1) ?? keyField.defaultValue)
            let value = try entry.value(2) ?? (valueField.type == .message
                                           ? .message(DynamicMessage(try pool.message(valueField.typeName)))
                                           : valueField.defaultValue)
            byKey[key] = try valueJSON(value, valueField)
        }
        return .object(byKey.keys.sorted().map { ($0.text, byKey[$0]!) })
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

/// A map key, ordered numerically for integer keys and by UTF-8 bytes for strings.
struct MapKey: Hashable, Comparable {
    let text: String
    let number: Int64?
    let unsignedNumber: UInt64?

    init(_ value: ProtoValue) {
        switch value {
        case .signed(let i): (text, number, unsignedNumber) = (String(i), i, nil)
        case .unsigned(let u): (text, number, unsignedNumber) = (String(u), nil, u)
        case .bool(let b): (text, number, unsignedNumber) = (b ? "true" : "false", b ? 1 : 0, nil)
        case .string(let s): (text, number, unsignedNumber) = (s, nil, nil)
        default: (text, number, unsignedNumber) = ("", nil, nil)
        }
    }

    static func < (a: MapKey, b: MapKey) -> Bool {
        if let x = a.number, let y = b.number { return x < y }
        if let x = a.unsignedNumber, let y = b.unsignedNumber { return x < y }
        return a.text.utf8.lexicographicallyPrecedes(b.text.utf8)
    }
}
