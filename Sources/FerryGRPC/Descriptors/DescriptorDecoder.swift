/// Decodes the parts of descriptor.proto that transcoding needs, with field numbers from
/// google/protobuf/descriptor.proto and google/api/annotations.proto + http.proto.
enum DescriptorDecoder {
    /// `MethodOptions` extension number of `google.api.http`.
    static let httpRuleExtension = 72_295_728

    private struct FileContext {
        var package = ""
        var proto3 = false
    }

    static func decodeFile(_ r: inout WireReader, into pool: inout DescriptorPool) throws {
        // Syntax decides presence and packing, and may come after the messages: collect first.
        var context = FileContext()
        var fileName = ""
        var messages: [WireReader] = []
        var enums: [WireReader] = []
        var services: [WireReader] = []
        try r.forEachField { r, field, type in
            switch (field, type) {
            case (1, .lengthDelimited): fileName = try r.readString()
            case (2, .lengthDelimited): context.package = try r.readString()
            case (4, .lengthDelimited): messages.append(try r.subReader())
            case (5, .lengthDelimited): enums.append(try r.subReader())
            case (6, .lengthDelimited): services.append(try r.subReader())
            case (12, .lengthDelimited):
                let syntax = try r.readString()
                guard syntax == "proto2" || syntax == "proto3" || syntax.isEmpty else {
                    throw TranscodingError.invalidDescriptor("\(fileName): syntax \"\(syntax)\" is not supported yet by Ferry")
                }
                context.proto3 = syntax == "proto3"
            default: return false
            }
            return true
        }
        let scope = context.package
        for var m in messages { try decodeMessage(&m, scope: scope, context: context, into: &pool) }
        for var e in enums { try pool.add(decodeEnum(&e, scope: scope)) }
        for var s in services { try pool.add(decodeService(&s, scope: scope)) }
    }

    private static func qualify(_ scope: String, _ name: String) -> String {
        scope.isEmpty ? name : scope + "." + name
    }

    private static func decodeMessage(_ r: inout WireReader, scope: String, context: FileContext,
                                      into pool: inout DescriptorPool) throws {
        var name = ""
        var rawFields: [WireReader] = []
        var nested: [WireReader] = []
        var enums: [WireReader] = []
        var oneofNames: [String] = []
        var isMapEntry = false
        try r.forEachField { r, field, type in
            switch (field, type) {
            case (1, .lengthDelimited): name = try r.readString()
            case (2, .lengthDelimited): rawFields.append(try r.subReader())
            case (3, .lengthDelimited): nested.append(try r.subReader())
            case (4, .lengthDelimited): enums.append(try r.subReader())
            case (7, .lengthDelimited):
                var options = try r.subReader()
                try options.forEachField { r, field, type in
                    guard field == 7, type == .varint else { return false }
                    isMapEntry = try r.readVarint() != 0
                    return true
                }
            case (8, .lengthDelimited):
                var oneof = try r.subReader()
                var oneofName = ""
                try oneof.forEachField { r, field, type in
                    guard field == 1, type == .lengthDelimited else { return false }
                    oneofName = try r.readString()
                    return true
                }
                oneofNames.append(oneofName)
            default: return false
            }
            return true
        }
        let fullName = qualify(scope, name)
        var fields: [FieldDescriptor] = []
        var syntheticOneofs = Set<Int>()
        for var f in rawFields {
            let raw = try decodeField(&f, message: fullName)
            if raw.proto3Optional, let index = raw.oneofIndex { syntheticOneofs.insert(index) }
            fields.append(raw.descriptor(proto3: context.proto3))
        }
        // Real oneofs keep their order; synthetic ones (proto3 optional) are dropped and the
        // remaining indexes renumbered.
        var remap: [Int: Int] = [:]
        var oneofs: [String] = []
        for (i, n) in oneofNames.enumerated() where !syntheticOneofs.contains(i) {
            remap[i] = oneofs.count
            oneofs.append(n)
        }
        fields = fields.map { f in
            FieldDescriptor(name: f.name, number: f.number, type: f.type, isRepeated: f.isRepeated, typeName: f.typeName,
                            jsonName: f.jsonName, oneofIndex: f.oneofIndex.flatMap { remap[$0] },
                            // Map entries always carry key and value, defaults included, as protoc writes them.
                            hasExplicitPresence: f.hasExplicitPresence || isMapEntry || (f.oneofIndex.flatMap { remap[$0] } != nil),
                            isPacked: f.isPacked)
        }
        try pool.add(MessageDescriptor(fullName: fullName, fields: fields, oneofs: oneofs, isMapEntry: isMapEntry))
        for var n in nested { try decodeMessage(&n, scope: fullName, context: context, into: &pool) }
        for var e in enums { try pool.add(decodeEnum(&e, scope: fullName)) }
    }

    private struct RawField {
        var name = "", number = 0, label = 1, type = 0, typeName = "", jsonName = ""
        var oneofIndex: Int?
        var proto3Optional = false
        var packed: Bool?
        var fieldType = FieldType.int32

        func descriptor(proto3: Bool) -> FieldDescriptor {
            let repeated = label == 3
            let presence = !repeated && (proto3Optional || !proto3 || fieldType == .message || fieldType == .group)
            let packed = repeated && fieldType.isPackable && (self.packed ?? proto3)
            return FieldDescriptor(name: name, number: number, type: fieldType, isRepeated: repeated,
                                   typeName: typeName, jsonName: jsonName.isEmpty ? lowerCamel(name) : jsonName,
                                   oneofIndex: oneofIndex, hasExplicitPresence: presence, isPacked: packed)
        }
    }

    private static func decodeField(_ r: inout WireReader, message: String) throws -> RawField {
        var f = RawField()
        try r.forEachField { r, field, type in
            switch (field, type) {
            case (1, .lengthDelimited): f.name = try r.readString()
            case (3, .varint): f.number = Int(truncatingIfNeeded: try r.readVarint())
            case (4, .varint): f.label = Int(truncatingIfNeeded: try r.readVarint())
            case (5, .varint): f.type = Int(truncatingIfNeeded: try r.readVarint())
            case (6, .lengthDelimited): f.typeName = try r.readString()
            case (9, .varint): f.oneofIndex = Int(truncatingIfNeeded: try r.readVarint())
            case (10, .lengthDelimited): f.jsonName = try r.readString()
            case (17, .varint): f.proto3Optional = try r.readVarint() != 0
            case (8, .lengthDelimited):
                var options = try r.subReader()
                try options.forEachField { r, field, type in
                    guard field == 2, type == .varint else { return false }
                    f.packed = try r.readVarint() != 0
                    return true
                }
            default: return false
            }
            return true
        }
        guard let type = FieldType(rawValue: f.type) else {
            throw TranscodingError.invalidDescriptor("field \(message).\(f.name) has unknown type \(f.type)")
        }
        guard f.number > 0 && f.number <= 536_870_911 else {
            throw TranscodingError.invalidDescriptor("field \(message).\(f.name) has invalid number \(f.number)")
        }
        f.fieldType = type
        f.typeName = try absolute(f.typeName, in: "field \(message).\(f.name)")
        return f
    }

    /// protoc writes fully qualified names with a leading dot; anything else cannot be resolved
    /// without the scope rules protoc already applied.
    private static func absolute(_ name: String, in what: String) throws -> String {
        if name.isEmpty { return name }
        guard name.hasPrefix(".") else {
            throw TranscodingError.invalidDescriptor("\(what): type name \"\(name)\" is not fully qualified; build the descriptor set with protoc")
        }
        return String(name.dropFirst())
    }

    private static func decodeEnum(_ r: inout WireReader, scope: String) throws -> EnumDescriptor {
        var name = ""
        var values: [(name: String, number: Int32)] = []
        try r.forEachField { r, field, type in
            switch (field, type) {
            case (1, .lengthDelimited): name = try r.readString()
            case (2, .lengthDelimited):
                var value = try r.subReader()
                var valueName = ""
                var number: Int32 = 0
                try value.forEachField { r, field, type in
                    switch (field, type) {
                    case (1, .lengthDelimited): valueName = try r.readString()
                    case (2, .varint): number = Int32(truncatingIfNeeded: try r.readVarint())
                    default: return false
                    }
                    return true
                }
                values.append((valueName, number))
            default: return false
            }
            return true
        }
        return EnumDescriptor(fullName: qualify(scope, name), values: values)
    }

    private static func decodeService(_ r: inout WireReader, scope: String) throws -> ServiceDescriptor {
        var name = ""
        var rawMethods: [WireReader] = []
        try r.forEachField { r, field, type in
            switch (field, type) {
            case (1, .lengthDelimited): name = try r.readString()
            case (2, .lengthDelimited): rawMethods.append(try r.subReader())
            default: return false
            }
            return true
        }
        let fullName = qualify(scope, name)
        var methods: [MethodDescriptor] = []
        for var m in rawMethods { methods.append(try decodeMethod(&m, service: fullName)) }
        return ServiceDescriptor(fullName: fullName, methods: methods)
    }

    private static func decodeMethod(_ r: inout WireReader, service: String) throws -> MethodDescriptor {
        var name = "", input = "", output = ""
        var clientStreaming = false, serverStreaming = false
        var rule: HttpRule?
        try r.forEachField { r, field, type in
            switch (field, type) {
            case (1, .lengthDelimited): name = try r.readString()
            case (2, .lengthDelimited): input = try r.readString()
            case (3, .lengthDelimited): output = try r.readString()
            case (5, .varint): clientStreaming = try r.readVarint() != 0
            case (6, .varint): serverStreaming = try r.readVarint() != 0
            case (4, .lengthDelimited):
                var options = try r.subReader()
                try options.forEachField { r, field, type in
                    guard field == httpRuleExtension, type == .lengthDelimited else { return false }
                    var sub = try r.subReader()
                    rule = try decodeHttpRule(&sub)
                    return true
                }
            default: return false
            }
            return true
        }
        let what = "method \(service).\(name)"
        return MethodDescriptor(name: name, serviceName: service, inputType: try absolute(input, in: what),
                                outputType: try absolute(output, in: what), clientStreaming: clientStreaming,
                                serverStreaming: serverStreaming, httpRule: rule)
    }

    static func decodeHttpRule(_ r: inout WireReader, depth: Int = 0) throws -> HttpRule {
        var rule = HttpRule(method: "", path: "")
        try r.forEachField { r, field, type in
            guard type == .lengthDelimited else { return false }
            switch field {
            case 2: (rule.method, rule.path) = ("GET", try r.readString())
            case 3: (rule.method, rule.path) = ("PUT", try r.readString())
            case 4: (rule.method, rule.path) = ("POST", try r.readString())
            case 5: (rule.method, rule.path) = ("DELETE", try r.readString())
            case 6: (rule.method, rule.path) = ("PATCH", try r.readString())
            case 7: rule.body = try r.readString()
            case 12: rule.responseBody = try r.readString()
            case 8:
                var custom = try r.subReader()
                try custom.forEachField { r, field, type in
                    switch (field, type) {
                    case (1, .lengthDelimited): rule.method = try r.readString()
                    case (2, .lengthDelimited): rule.path = try r.readString()
                    default: return false
                    }
                    return true
                }
            case 11:
                // http.proto: additional bindings must not nest further.
                guard depth == 0 else { throw TranscodingError.invalidDescriptor("additional_bindings must not contain additional_bindings") }
                var sub = try r.subReader()
                rule.additionalBindings.append(try decodeHttpRule(&sub, depth: depth + 1))
            default: return false
            }
            return true
        }
        return rule
    }
}

/// protoc's default JSON name: underscores dropped, the letter after each one upper-cased.
func lowerCamel(_ name: String) -> String {
    var out = ""
    var upper = false
    for c in name {
        if c == "_" {
            upper = true
        } else if upper {
            out += c.uppercased()
            upper = false
        } else {
            out.append(c)
        }
    }
    return out
}

extension WireReader {
    /// Calls `handle` for each field until the end; fields it does not take (returns false)
    /// are skipped.
    mutating func forEachField(_ handle: (inout WireReader, Int, WireType) throws -> Bool) throws {
        while !isAtEnd {
            let (field, type) = try readTag()
            if try !handle(&self, field, type) { try skip(type, field: field) }
        }
    }
}
