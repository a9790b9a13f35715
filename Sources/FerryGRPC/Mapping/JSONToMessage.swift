/// Builds a `DynamicMessage` from JSON following protobuf's canonical proto3 JSON mapping:
/// both the proto and the JSON name of a field are accepted; 64-bit integers as numbers or
/// strings; floats as numbers, numeric strings or "NaN"/"Infinity"/"-Infinity"; bytes in
/// standard or URL-safe base64; enums by name or number; `null` leaves a field unset (but is
/// `NULL_VALUE` for `google.protobuf.Value`). Two members of one oneof and a map key given
/// twice are errors naming the field; a field given twice keeps its last value (repeated
/// fields append), as in Envoy. Unknown fields are errors naming the field, or skipped with
/// `ignoreUnknownFields`.
struct JSONToMessage {
    let pool: DescriptorPool
    /// Values from a URL (path variables, query parameters): booleans are also written as
    /// `t`, `yes`, `1`... (see `urlBool`).
    var fromURL = false
    /// Skip members that name no field (Envoy's transcoder does so for request bodies).
    var ignoreUnknownFields = false

    func message(_ json: JSONValue, _ type: MessageDescriptor, path: String) throws -> DynamicMessage {
        if let special = try wellKnown(json, type, path: path) { return special }
        guard case .object(let members) = json else {
            throw invalid(path, "expected an object for \(type.fullName), got \(json.kindName)")
        }
        var message = DynamicMessage(type)
        var oneofSeen: [Int: String] = [:]
        for (key, value) in members {
            let fieldPath = path.isEmpty ? key : path + "." + key
            guard let field = type.field(named: key) else {
                if ignoreUnknownFields { continue }
                throw invalid(fieldPath, "unknown field \"\(key)\" in message \(type.fullName)")
            }
            try merge(value, into: &message, field: field, path: fieldPath, oneofSeen: &oneofSeen)
        }
        return message
    }

    /// Sets one field from its JSON value; null leaves it unset.
    func merge(_ value: JSONValue, into message: inout DynamicMessage, field: FieldDescriptor, path: String,
               oneofSeen: inout [Int: String]) throws {
        if field.isRepeated {
            let list = try repeated(value, field, path: path)
            message[field.number] = message[field.number] + list
            return
        }
        guard let single = try singular(value, field, path: path) else { return }
        if let oneof = field.oneofIndex {
            if let other = oneofSeen[oneof], other != field.name {
                throw invalid(path, "oneof \(message.descriptor.oneofs[oneof]) has more than one field set (\(other) and \(field.name))")
            }
            oneofSeen[oneof] = field.name
        }
        message.set(field, single)
    }

    func repeated(_ json: JSONValue, _ field: FieldDescriptor, path: String) throws -> [ProtoValue] {
        if case .null = json { return [] }
        if try isMap(field) { return try mapEntries(json, field, path: path) }
        guard case .array(let elements) = json else {
            throw invalid(path, "expected an array, got \(json.kindName)")
        }
        return try elements.enumerated().map { i, element in
            let elementPath = "\(path)[\(i)]"
            guard let v = try singular(element, field, path: elementPath) else {
                throw invalid(elementPath, "null is not allowed in a repeated field")
            }
            return v
        }
    }

    func isMap(_ field: FieldDescriptor) throws -> Bool {
        try field.isRepeated && field.type == .message && (try pool.message(field.typeName)).isMapEntry
    }

    private func mapEntries(_ json: JSONValue, _ field: FieldDescriptor, path: String) throws -> [ProtoValue] {
        guard case .object(let members) = json else { throw invalid(path, "expected an object for a map, got \(json.kindName)") }
        let entryType = try pool.message(field.typeName)
        guard let keyField = entryType.field(number: 1), let valueField = entryType.field(number: 2) else {
            throw TranscodingError.invalidDescriptor("map entry \(entryType.fullName) lacks key or value")
        }
        var seen = Set<String>()
        return try members.map { key, value in
            let entryPath = "\(path)[\"\(key)\"]"
            guard seen.insert(key).inserted else { throw invalid(entryPath, "map key \"\(key)\" is given more than once") }
            var entry = DynamicMessage(entryType)
            entry.set(keyField, try mapKey(key, keyField, path: entryPath))
            guard let v = try singular(value, valueField, path: entryPath) else {
                throw invalid(entryPath, "null is not allowed as a map value")
            }
            entry.set(valueField, v)
            return .message(entry)
        }
    }

    private func mapKey(_ key: String, _ field: FieldDescriptor, path: String) throws -> ProtoValue {
        if field.type == .bool {
            switch key {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw invalid(path, "map key \"\(key)\" is not a boolean")
            }
        }
        guard let v = try singular(.string(key), field, path: path) else { throw invalid(path, "invalid map key") }
        return v
    }

    /// One value of a singular field or one element of a repeated one; nil for null.
    func singular(_ json: JSONValue, _ field: FieldDescriptor, path: String) throws -> ProtoValue? {
        switch field.type {
        case .message:
            let type = try pool.message(field.typeName)
            if case .null = json {
                guard type.fullName == WellKnown.value else { return nil }
            }
            return .message(try message(json, type, path: path))
        case .enum:
            return try enumValue(json, field, path: path)
        case .group:
            throw invalid(path, "group fields are not supported yet by Ferry")
        default:
            if case .null = json { return nil }
            return try scalar(json, field.type, path: path)
        }
    }

    private func enumValue(_ json: JSONValue, _ field: FieldDescriptor, path: String) throws -> ProtoValue? {
        let type = try pool.enumType(field.typeName)
        switch json {
        case .null:
            return type.fullName == WellKnown.nullValue ? .enumNumber(0) : nil
        case .string(let name):
            if let n = type.number(named: name) { return .enumNumber(n) }
            if fromURL, let n = Int32(name) { return .enumNumber(n) }
            throw invalid(path, "\"\(name)\" is not a value of enum \(type.fullName)")
        case .number(let text):
            guard let n = NumberText.int64(text), let n32 = Int32(exactly: n) else {
                throw invalid(path, "\(text) is not a valid enum number")
            }
            return .enumNumber(n32)
        default:
            throw invalid(path, "expected an enum name or number for \(type.fullName), got \(json.kindName)")
        }
    }

    func scalar(_ json: JSONValue, _ type: FieldType, path: String) throws -> ProtoValue {
        switch type {
        case .string:
            guard case .string(let s) = json else { throw invalid(path, "expected a string, got \(json.kindName)") }
            return .string(s)
        case .bytes:
            guard case .string(let s) = json else { throw invalid(path, "expected a base64 string, got \(json.kindName)") }
            guard let bytes = Base64.decode(s) else { throw invalid(path, "\"\(s)\" is not valid base64") }
            return .bytes(bytes)
        case .bool:
            switch json {
            case .bool(let b): return .bool(b)
            case .string(let s) where fromURL:
                guard let b = Self.urlBool(s) else { throw invalid(path, "\"\(s)\" is not a boolean (true or false)") }
                return .bool(b)
            default: throw invalid(path, "expected true or false, got \(json.kindName)")
            }
        case .float, .double:
            let text = try numberText(json, path: path)
            guard let d = NumberText.double(text) else { throw invalid(path, "\"\(text)\" is not a number") }
            if type == .double { return .double(d) }
            // Values that round to the largest float are in range (3.4028235e38 is).
            guard !d.isFinite || Float(d).isFinite else {
                throw invalid(path, "\(text) is out of range for float")
            }
            return .float(Float(d))
        case .int32, .sint32, .sfixed32, .int64, .sint64, .sfixed64:
            let text = try numberText(json, path: path)
            guard let v = NumberText.int64(text) else { throw invalid(path, "\"\(text)\" is not an integer in range") }
            let is32 = type == .int32 || type == .sint32 || type == .sfixed32
            guard !is32 || Int32(exactly: v) != nil else { throw invalid(path, "\(text) is out of range for a 32-bit integer") }
            return .signed(v)
        case .uint32, .fixed32, .uint64, .fixed64:
            let text = try numberText(json, path: path)
            guard let v = NumberText.uint64(text) else { throw invalid(path, "\"\(text)\" is not an unsigned integer in range") }
            guard type == .uint64 || type == .fixed64 || UInt32(exactly: v) != nil else {
                throw invalid(path, "\(text) is out of range for a 32-bit unsigned integer")
            }
            return .unsigned(v)
        case .enum, .message, .group:
            throw invalid(path, "not a scalar field")
        }
    }

    /// A boolean in a URL, read as Envoy does (absl's `SimpleAtob`, case-insensitive).
    static func urlBool(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "t", "yes", "y", "1": return true
        case "false", "f", "no", "n", "0": return false
        default: return nil
        }
    }

    /// Numbers may come as JSON numbers or as strings holding one.
    private func numberText(_ json: JSONValue, path: String) throws -> String {
        switch json {
        case .number(let t): return t
        case .string(let s):
            guard !s.isEmpty, s.first != " ", s.last != " " else { throw invalid(path, "\"\(s)\" is not a number") }
            return s
        default: throw invalid(path, "expected a number, got \(json.kindName)")
        }
    }

    func invalid(_ path: String, _ what: String) -> TranscodingError {
        let error = path.isEmpty ? what : "\(path): \(what)"
        return fromURL ? .invalidParameter(error) : .invalidJSON(error)
    }
}
