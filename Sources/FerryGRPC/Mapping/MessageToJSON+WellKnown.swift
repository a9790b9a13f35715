/// The special JSON forms of the well-known types, message → JSON.
extension MessageToJSON {
    func wellKnown(_ message: DynamicMessage) throws -> JSONValue? {
        let name = message.descriptor.fullName
        guard name.hasPrefix("google.protobuf.") else { return nil }
        switch name {
        case WellKnown.timestamp, WellKnown.duration:
            let seconds = signed(message.value(1))
            let nanos = Int32(truncatingIfNeeded: signed(message.value(2)))
            let text = name == WellKnown.timestamp
                ? TimeText.formatTimestamp(seconds: seconds, nanos: nanos)
                : TimeText.formatDuration(seconds: seconds, nanos: nanos)
            guard let text else {
                throw TranscodingError.invalidJSON("\(name) with seconds \(seconds) and nanos \(nanos) is out of range")
            }
            return .string(text)
        case WellKnown.fieldMask:
            let paths = try message[1].map { value -> String in
                guard case .string(let p) = value else { return "" }
                return try camelPath(p)
            }
            return .string(paths.joined(separator: ","))
        case WellKnown.structType:
            guard let field = message.descriptor.field(number: 1) else { return nil }
            return try fieldJSONOrDefault(message, field)
        case WellKnown.listValue:
            guard let field = message.descriptor.field(number: 1) else { return nil }
            return .array(try message[1].map { try valueJSON($0, field) })
        case WellKnown.value:
            return try valueKind(message)
        case WellKnown.any:
            return try any(message)
        default:
            guard WellKnown.wrappers.contains(name), let field = message.descriptor.field(number: 1) else { return nil }
            return try valueJSON(message.value(1) ?? field.defaultValue, field)
        }
    }

    private func signed(_ value: ProtoValue?) -> Int64 {
        if case .signed(let v)? = value { return v }
        return 0
    }

    private func valueKind(_ message: DynamicMessage) throws -> JSONValue {
        for field in message.descriptor.fields {
            guard let v = message.value(field.number) else { continue }
            if case .double(let d) = v, !d.isFinite {
                throw TranscodingError.invalidJSON("google.protobuf.Value cannot hold \(d) in JSON")
            }
            return try valueJSON(v, field)
        }
        throw TranscodingError.invalidJSON("google.protobuf.Value has no kind set")
    }

    private func any(_ message: DynamicMessage) throws -> JSONValue {
        guard case .string(let url)? = message.value(1) else {
            if message.value(2) == nil { return .object([]) }
            throw TranscodingError.invalidJSON("google.protobuf.Any has a value but no type_url")
        }
        guard anyDepth < Self.maxAnyDepth else {
            throw TranscodingError.invalidJSON("google.protobuf.Any nested deeper than \(Self.maxAnyDepth)")
        }
        let converter = JSONToMessage(pool: pool)
        let type = try converter.anyContentType(url, path: "@type")
        var bytes: [UInt8] = []
        if case .bytes(let b)? = message.value(2) { bytes = b }
        let inner = try DynamicMessage(decoding: bytes, as: type, pool: pool)
        var members: [(key: String, value: JSONValue)] = [("@type", .string(url))]
        var printer = self
        printer.anyDepth += 1
        if WellKnown.hasSpecialJSON(type.fullName) {
            members.append(("value", try printer.json(inner)))
        } else {
            try printer.appendFields(of: inner, to: &members)
        }
        return .object(members)
    }

    /// snake_case → lowerCamel; paths that would not come back the same are refused.
    private func camelPath(_ path: String) throws -> String {
        var out = ""
        var upper = false
        for c in path {
            if c.isUppercase {
                throw TranscodingError.invalidJSON("field mask path \"\(path)\" has an upper-case letter and cannot be written in JSON")
            }
            if c == "_" {
                guard !upper else { throw TranscodingError.invalidJSON("field mask path \"\(path)\" cannot be written in JSON") }
                upper = true
                continue
            }
            if upper {
                guard c.isLowercase else { throw TranscodingError.invalidJSON("field mask path \"\(path)\" cannot be written in JSON") }
                out += c.uppercased()
                upper = false
            } else {
                out.append(c)
            }
        }
        guard !upper else { throw TranscodingError.invalidJSON("field mask path \"\(path)\" cannot be written in JSON") }
        return out
    }
}
