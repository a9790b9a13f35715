/// The special JSON forms of the well-known types, JSON → message.
extension JSONToMessage {
    /// Returns nil when `type` has no special JSON form (it is then read as a plain object).
    func wellKnown(_ json: JSONValue, _ type: MessageDescriptor, path: String) throws -> DynamicMessage? {
        let name = type.fullName
        guard name.hasPrefix("google.protobuf.") else { return nil }
        var message = DynamicMessage(type)
        switch name {
        case WellKnown.timestamp, WellKnown.duration:
            guard case .string(let text) = json else { throw invalid(path, "expected a string for \(name), got \(json.kindName)") }
            let parsed = name == WellKnown.timestamp ? TimeText.parseTimestamp(text) : TimeText.parseDuration(text)
            guard let (seconds, nanos) = parsed else {
                throw invalid(path, name == WellKnown.timestamp
                              ? "\"\(text)\" is not an RFC 3339 timestamp between 0001-01-01 and 9999-12-31"
                              : "\"\(text)\" is not a duration like \"1.5s\" within ±315576000000s")
            }
            try setField(&message, 1, .signed(seconds))
            try setField(&message, 2, .signed(Int64(nanos)))
        case WellKnown.fieldMask:
            guard case .string(let text) = json else { throw invalid(path, "expected a string for \(name), got \(json.kindName)") }
            let paths = try text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { p in
                try fieldMaskPath(String(p), path: path)
            }
            guard let field = type.field(number: 1) else { throw malformedWellKnown(name) }
            message[field.number] = paths.map { .string($0) }
        case WellKnown.structType:
            guard case .object = json else { throw invalid(path, "expected an object for \(name), got \(json.kindName)") }
            guard let field = type.field(number: 1) else { throw malformedWellKnown(name) }
            var oneofs: [Int: String] = [:]
            try merge(json, into: &message, field: field, path: path, oneofSeen: &oneofs)
        case WellKnown.listValue:
            guard case .array = json else { throw invalid(path, "expected an array for \(name), got \(json.kindName)") }
            guard let field = type.field(number: 1) else { throw malformedWellKnown(name) }
            var oneofs: [Int: String] = [:]
            try merge(json, into: &message, field: field, path: path, oneofSeen: &oneofs)
        case WellKnown.value:
            try value(json, into: &message, path: path)
        case WellKnown.any:
            return try any(json, type, path: path)
        default:
            guard WellKnown.wrappers.contains(name) else { return nil }
            guard let field = type.field(number: 1) else { throw malformedWellKnown(name) }
            // The wrapper is present even when its value is the default, which stays off the wire.
            guard let v = try singular(json, field, path: path), !Self.isZero(v) else { return message }
            message.values[1] = [v]
        }
        return message
    }

    private func value(_ json: JSONValue, into message: inout DynamicMessage, path: String) throws {
        let number: Int
        let v: ProtoValue
        switch json {
        case .null: (number, v) = (1, .enumNumber(0))
        case .number(let text):
            guard let d = Double(text), d.isFinite else { throw invalid(path, "\(text) is out of range for a double") }
            (number, v) = (2, .double(d))
        case .string(let s): (number, v) = (3, .string(s))
        case .bool(let b): (number, v) = (4, .bool(b))
        case .object:
            (number, v) = (5, .message(try self.message(json, try pool.message(WellKnown.structType), path: path)))
        case .array:
            (number, v) = (6, .message(try self.message(json, try pool.message(WellKnown.listValue), path: path)))
        }
        guard let field = message.descriptor.field(number: number) else { throw malformedWellKnown(WellKnown.value) }
        message.set(field, v)
    }

    private func any(_ json: JSONValue, _ type: MessageDescriptor, path: String) throws -> DynamicMessage {
        guard case .object(let members) = json else { throw invalid(path, "expected an object for google.protobuf.Any, got \(json.kindName)") }
        var message = DynamicMessage(type)
        if members.isEmpty { return message }
        let typeURLs = members.filter { $0.key == "@type" }
        guard typeURLs.count == 1, case .string(let url) = typeURLs[0].value else {
            throw invalid(path, "google.protobuf.Any needs exactly one string \"@type\" member")
        }
        let content = try anyContentType(url, path: path)
        let rest = members.filter { $0.key != "@type" }
        let inner: DynamicMessage
        if WellKnown.hasSpecialJSON(content.fullName) {
            guard rest.count == 1, rest[0].key == "value" else {
                throw invalid(path, "an Any holding \(content.fullName) must have exactly the members \"@type\" and \"value\"")
            }
            inner = try self.message(rest[0].value, content, path: path + ".value")
        } else {
            inner = try self.message(.object(rest), content, path: path)
        }
        try setField(&message, 1, .string(url))
        try setField(&message, 2, .bytes(inner.encoded()))
        return message
    }

    /// Resolves an Any type URL (`type.googleapis.com/pkg.Message`) against the descriptor set.
    func anyContentType(_ url: String, path: String) throws -> MessageDescriptor {
        guard let slash = url.lastIndex(of: "/"), url.index(after: slash) < url.endIndex else {
            throw invalid(path, "\"\(url)\" is not a type URL like type.googleapis.com/pkg.Message")
        }
        let name = String(url[url.index(after: slash)...])
        guard let type = pool.messages[name] else {
            throw invalid(path, "type \(name) of \"@type\" is not in the descriptor set")
        }
        return type
    }

    /// A FieldMask path in JSON is lowerCamel; the message holds snake_case.
    private func fieldMaskPath(_ camel: String, path: String) throws -> String {
        var out = ""
        for c in camel {
            if c == "_" { throw invalid(path, "field mask path \"\(camel)\" must be lowerCamelCase in JSON") }
            if c.isUppercase && c.isASCII {
                out += "_" + c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Sets a field of a well-known type built here; zeros stay off the wire, as protobuf's
    /// serializers leave them.
    private func setField(_ message: inout DynamicMessage, _ number: Int, _ value: ProtoValue) throws {
        guard let field = message.descriptor.field(number: number) else { throw malformedWellKnown(message.descriptor.fullName) }
        if Self.isZero(value) { return }
        message.set(field, value)
    }

    static func isZero(_ value: ProtoValue) -> Bool {
        switch value {
        case .signed(let i): return i == 0
        case .unsigned(let u): return u == 0
        case .float(let f): return f == 0 && f.sign == .plus
        case .double(let d): return d == 0 && d.sign == .plus
        case .bool(let b): return !b
        case .string(let s): return s.isEmpty
        case .bytes(let b): return b.isEmpty
        case .enumNumber(let n): return n == 0
        case .message: return false
        }
    }

    func malformedWellKnown(_ name: String) -> TranscodingError {
        .invalidDescriptor("the descriptor of \(name) in the descriptor set is not the standard one")
    }
}
