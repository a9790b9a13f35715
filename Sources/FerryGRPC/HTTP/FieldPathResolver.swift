/// Resolves dotted field paths (`book.author.name`, proto or JSON names) of path variables and
/// query parameters, and sets their string values on a message.
struct FieldPathResolver {
    let pool: DescriptorPool

    /// Message types whose JSON form is a string (or a number or boolean given as text), so a
    /// URL value can set them.
    private static let textual: Set<String> = WellKnown.wrappers.union([WellKnown.timestamp, WellKnown.duration, WellKnown.fieldMask])

    /// The leaf field of `path`; every step before it must be a singular message field.
    func leaf(_ path: [String], in type: MessageDescriptor, what: String) throws -> FieldDescriptor {
        var current = type
        for (i, name) in path.enumerated() {
            guard let field = current.field(named: name) else {
                throw TranscodingError.invalidDescriptor("\(what): \(current.fullName) has no field \"\(name)\"")
            }
            if i == path.count - 1 {
                if field.type == .message {
                    let target = try pool.message(field.typeName)
                    guard Self.textual.contains(target.fullName) && !(field.isRepeated && target.isMapEntry) else {
                        throw TranscodingError.invalidDescriptor("\(what): field \(name) is a message (\(target.fullName)) and cannot take a value from a URL")
                    }
                }
                return field
            }
            guard field.type == .message, !field.isRepeated else {
                throw TranscodingError.invalidDescriptor("\(what): field \(name) is not a singular message, so it has no field \"\(path[i + 1])\"")
            }
            current = try pool.message(field.typeName)
        }
        throw TranscodingError.invalidDescriptor("\(what): empty field path")
    }

    /// Whether every name of `path` is a field (of the message type the name before it has).
    /// A path that names fields but cannot take a URL value still resolves: setting it is an
    /// invalid parameter, not an unknown one.
    func resolves(_ path: [String], in type: MessageDescriptor) -> Bool {
        var current: MessageDescriptor? = type
        for name in path {
            guard let field = current?.field(named: name) else { return false }
            current = field.type == .message ? pool.messages[field.typeName] : nil
        }
        return !path.isEmpty
    }

    /// Sets (singular) or appends (repeated) the value at `path`.
    func assign(_ value: String, to path: [String], in message: inout DynamicMessage, what: String) throws {
        do {
            try assign(value, path[...], in: &message, what: what)
        } catch TranscodingError.invalidDescriptor(let why) {
            throw TranscodingError.invalidParameter(why)
        }
    }

    private func assign(_ value: String, _ path: ArraySlice<String>, in message: inout DynamicMessage, what: String) throws {
        let field = try leafOrStep(path, message.descriptor, what: what)
        if path.count == 1 {
            let converter = JSONToMessage(pool: pool, fromURL: true)
            guard let v = try converter.singular(.string(value), field, path: what) else { return }
            if field.isRepeated {
                message[field.number].append(v)
            } else {
                message.set(field, v)
            }
            return
        }
        var child: DynamicMessage
        if case .message(let existing)? = message.value(field.number) {
            child = existing
        } else {
            child = DynamicMessage(try pool.message(field.typeName))
        }
        try assign(value, path.dropFirst(), in: &child, what: what)
        message.set(field, .message(child))
    }

    private func leafOrStep(_ path: ArraySlice<String>, _ type: MessageDescriptor, what: String) throws -> FieldDescriptor {
        // Checks the whole remaining path, then returns its first field.
        _ = try leaf(Array(path), in: type, what: what)
        return type.field(named: path.first!)!
    }
}
