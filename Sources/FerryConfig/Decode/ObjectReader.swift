/// Reads one protobuf message, written as a YAML/JSON mapping, field by field.
///
/// Every field a decoder reads is marked consumed; `finish()` then reports what is left: a field
/// that Envoy's schema knows is "not supported yet" (Ferry never accepts a field and ignores
/// it), anything else is an unknown field with a "did you mean" suggestion. Field names may be
/// written in proto (`port_value`) or JSON (`portValue`) spelling, as Envoy accepts both.
public final class ObjectReader {
    public let node: ConfigNode
    public let path: String
    /// Full proto message name used to look up Envoy's field list, e.g. `envoy.config.route.v3.Route`.
    public let message: String
    public let diagnostics: DiagnosticCollector
    private var fields: [String: ConfigNode.Entry] = [:]
    private var order: [String] = []
    private var consumed: Set<String> = []

    /// Returns nil (after reporting an error) when `node` is not a mapping.
    public init?(_ node: ConfigNode, path: String, message: String, diagnostics: DiagnosticCollector) {
        self.node = node
        self.path = path
        self.message = message
        self.diagnostics = diagnostics
        guard let entries = node.entries else {
            diagnostics.error(node.location, path, "expected a mapping (\(Self.shortName(message))), found \(node.kindDescription)",
                              fix: "write the fields of \(Self.shortName(message)) as `key: value` lines indented under this key")
            return nil
        }
        let schema = EnvoySchema.fields(of: message)
        for entry in entries {
            let name = Self.protoName(entry.key, schema: schema)
            if let existing = fields[name] {
                diagnostics.error(entry.keyLocation, join(entry.key),
                                  "field is set twice (also as \"\(existing.key)\" at line \(existing.keyLocation.line))",
                                  fix: "keep one spelling; \"\(existing.key)\" and \"\(entry.key)\" are the same field")
                continue
            }
            fields[name] = entry
            order.append(name)
        }
    }

    /// The proto spelling of a JSON key: `portValue` → `port_value`. With the message's field list,
    /// the key is matched against each field's JSON name (protobuf's lowerCamelCase), which also
    /// resolves names with digits (`acceptHttp10` → `accept_http_10`); without one, upper-case
    /// letters become `_` + lower-case.
    static func protoName(_ key: String, schema: Set<String>? = nil) -> String {
        guard key.utf8.contains(where: { $0 >= 65 && $0 <= 90 }), !key.hasPrefix("@") else { return key }
        if let schema, let match = schema.first(where: { jsonName($0) == key }) { return match }
        var out = ""
        for ch in key {
            if ch.isUppercase {
                out.append("_")
                out.append(contentsOf: ch.lowercased())
            } else {
                out.append(ch)
            }
        }
        return out
    }

    /// Protobuf's JSON name of a field: underscores removed, the letter after each capitalised.
    static func jsonName(_ field: String) -> String {
        var out = ""
        var upper = false
        for ch in field {
            if ch == "_" { upper = true; continue }
            out.append(upper ? Character(ch.uppercased()) : ch)
            upper = false
        }
        return out
    }

    static func shortName(_ message: String) -> String {
        message.split(separator: ".").suffix(2).joined(separator: ".").replacingOccurrences(of: "v3.", with: "")
    }

    public func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    // MARK: presence

    public var keys: [String] { order }

    public func has(_ key: String) -> Bool {
        guard let entry = fields[key] else { return false }
        return !entry.value.isNull
    }

    /// Location of a key (or of the mapping when the key is absent).
    public func location(of key: String) -> SourceLocation { fields[key]?.keyLocation ?? node.location }

    public func valueLocation(of key: String) -> SourceLocation { fields[key]?.value.location ?? node.location }

    /// The raw node of a field, marking it consumed; nil when absent or null.
    public func raw(_ key: String) -> ConfigNode? {
        consumed.insert(key)
        guard let entry = fields[key], !entry.value.isNull else { return nil }
        return entry.value
    }

    /// Marks fields consumed without reading them (informational fields such as `stat_prefix`
    /// of a filter Ferry implements, whose value has no behaviour of its own).
    public func accept(_ keys: String...) { for key in keys { consumed.insert(key) } }
    public func accept(contentsOf keys: [String]) { for key in keys { consumed.insert(key) } }

    /// For decoders that give up on this message after reporting why: the unread fields Envoy's
    /// schema knows are not called "not supported yet" by `finish()`; unknown ones (typos) still are.
    public func skipRemaining() {
        let schema = EnvoySchema.fields(of: message) ?? []
        consumed.formUnion(order.filter { schema.contains($0) })
    }

    // MARK: scalars

    public func string(_ key: String) -> String? {
        guard let value = raw(key) else { return nil }
        guard let text = value.scalarText else {
            diagnostics.error(value.location, join(key), "expected a string, found \(value.kindDescription)",
                              fix: "write a single value, quoted if it contains ':' or '#'")
            return nil
        }
        return text
    }

    public func requiredString(_ key: String, fix: String? = nil) -> String? {
        guard let text = string(key), !text.isEmpty else {
            if !has(key) {
                diagnostics.error(node.location, join(key), "required field is missing",
                                  fix: fix ?? "add `\(key): ...` to this \(Self.shortName(message))")
            } else {
                diagnostics.error(valueLocation(of: key), join(key), "must not be empty", fix: fix ?? "write a value after `\(key):`")
            }
            return nil
        }
        return text
    }

    public func bool(_ key: String) -> Bool? {
        guard let value = raw(key), let text = scalar(value, key, "true or false") else { return nil }
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            diagnostics.error(value.location, join(key), "expected true or false, found \"\(text)\"",
                              fix: "write `\(key): true` or `\(key): false`")
            return nil
        }
    }

    public func integer(_ key: String, in range: ClosedRange<Int64>, fix: String? = nil) -> Int64? {
        guard let value = raw(key), let text = scalar(value, key, "a number") else { return nil }
        guard let number = Int64(text) ?? Double(text).flatMap({ $0 == $0.rounded() && abs($0) < 9e18 ? Int64($0) : nil })
        else {
            diagnostics.error(value.location, join(key), "expected an integer, found \"\(text)\"",
                              fix: fix ?? "write a whole number such as `\(key): \(max(range.lowerBound, 1))`")
            return nil
        }
        guard range.contains(number) else {
            diagnostics.error(value.location, join(key), "\(number) is out of range \(range.lowerBound)...\(range.upperBound)",
                              fix: fix ?? "use a value between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    public func uint32(_ key: String, in range: ClosedRange<Int64> = 0...Int64(UInt32.max), fix: String? = nil) -> UInt32? {
        integer(key, in: range, fix: fix).map { UInt32($0) }
    }

    public func double(_ key: String, in range: ClosedRange<Double>? = nil, fix: String? = nil) -> Double? {
        guard let value = raw(key), let text = scalar(value, key, "a number") else { return nil }
        guard let number = Double(text), number.isFinite else {
            diagnostics.error(value.location, join(key), "expected a number, found \"\(text)\"",
                              fix: fix ?? "write a number such as `\(key): 1.5`")
            return nil
        }
        if let range, !range.contains(number) {
            diagnostics.error(value.location, join(key), "\(text) is out of range \(range.lowerBound)...\(range.upperBound)",
                              fix: fix ?? "use a value between \(range.lowerBound) and \(range.upperBound)")
            return nil
        }
        return number
    }

    /// A `google.protobuf.Duration` in its JSON form: a decimal number of seconds ending in `s`.
    public func duration(_ key: String, positive: Bool = false, fix: String? = nil) -> Duration? {
        guard let value = raw(key) else { return nil }
        if let entries = value.entries {
            // Envoy's YAML loader also accepts {seconds, nanos}; keep that spelling working.
            guard let sub = ObjectReader(value, path: join(key), message: "google.protobuf.Duration", diagnostics: diagnostics)
            else { return nil }
            _ = entries
            let seconds = sub.integer("seconds", in: 0...315_576_000_000) ?? 0
            let nanos = sub.integer("nanos", in: 0...999_999_999) ?? 0
            sub.finish(known: ["seconds", "nanos"])
            return .seconds(seconds) + .nanoseconds(nanos)
        }
        guard let text = scalar(value, key, "a duration") else { return nil }
        guard let duration = Self.parseDuration(text) else {
            let suggestion = Double(text) != nil ? "\"\(text)s\"" : "\"0.25s\" or \"15s\""
            diagnostics.error(value.location, join(key), "\"\(text)\" is not a duration",
                              fix: fix ?? "write seconds with an `s` suffix, e.g. \(key): \(suggestion)")
            return nil
        }
        if positive && duration <= .zero {
            diagnostics.error(value.location, join(key), "must be greater than 0s", fix: fix ?? "use a positive duration such as \"5s\"")
            return nil
        }
        return duration
    }

    /// Parses `"1.5s"`, `"0.000001s"`, `"15s"`; nil when malformed or negative.
    public static func parseDuration(_ text: String) -> Duration? {
        guard text.hasSuffix("s"), text.count > 1 else { return nil }
        let number = text.dropLast()
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = Int64(parts[0].isEmpty ? "0" : String(parts[0])), whole >= 0,
              !parts[0].hasPrefix("+") else { return nil }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isASCII), let digits = Int64(fraction),
                  digits >= 0 else { return nil }
            nanos = digits
            for _ in fraction.count..<9 { nanos *= 10 }
        }
        return .seconds(whole) + .nanoseconds(nanos)
    }

    public func enumeration<E: ConfigEnum>(_ key: String, _ type: E.Type = E.self) -> E? {
        guard let value = raw(key), let text = scalar(value, key, "one of \(E.allNames)") else { return nil }
        if let match = E.allCases.first(where: { $0.protoName == text }) { return match }
        if let number = Int(text), let match = E.allCases.first(where: { $0.protoNumber == number }) { return match }
        let suggestion = Suggestion.closest(to: text, in: E.allCases.map(\.protoName))
        diagnostics.error(value.location, join(key),
                          "unknown value \"\(text)\"" + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                          fix: "use one of \(E.allNames)")
        return nil
    }

    private func scalar(_ value: ConfigNode, _ key: String, _ expected: String) -> String? {
        guard let text = value.scalarText else {
            diagnostics.error(value.location, join(key), "expected \(expected), found \(value.kindDescription)",
                              fix: "write a single value on the same line: `\(key): ...`")
            return nil
        }
        return text
    }

    // MARK: structure

    public func object(_ key: String, _ message: String) -> ObjectReader? {
        guard let value = raw(key) else { return nil }
        return ObjectReader(value, path: join(key), message: message, diagnostics: diagnostics)
    }

    /// Elements of a repeated field with their paths; reports an error if the field is not a list.
    public func list(_ key: String) -> [(node: ConfigNode, path: String)] {
        guard let value = raw(key) else { return [] }
        guard let elements = value.elements else {
            diagnostics.error(value.location, join(key), "expected a list, found \(value.kindDescription)",
                              fix: "write each element on its own line starting with `- `")
            return []
        }
        return elements.enumerated().map { (node: $0.element, path: "\(join(key))[\($0.offset)]") }
    }

    public func objects(_ key: String, _ message: String) -> [ObjectReader] {
        list(key).compactMap { ObjectReader($0.node, path: $0.path, message: message, diagnostics: diagnostics) }
    }

    public func strings(_ key: String) -> [(value: String, location: SourceLocation)] {
        list(key).compactMap { element in
            guard let text = element.node.scalarText else {
                diagnostics.error(element.node.location, element.path, "expected a string, found \(element.node.kindDescription)",
                                  fix: "write each element of \(key) as a single string")
                return nil
            }
            return (text, element.node.location)
        }
    }

    /// A `map<string, X>` field: the entries in written order.
    public func map(_ key: String) -> [ConfigNode.Entry] {
        guard let value = raw(key) else { return [] }
        guard let entries = value.entries else {
            diagnostics.error(value.location, join(key), "expected a mapping, found \(value.kindDescription)",
                              fix: "write `name: value` pairs indented under \(key)")
            return []
        }
        return entries
    }

    /// A `google.protobuf.Any` field (`typed_config`): its `@type` and a reader over its other
    /// fields. The reader's message is the type URL's message name.
    public func any(_ key: String) -> (typeURL: String, reader: ObjectReader)? {
        guard let value = raw(key) else { return nil }
        return Self.any(value, path: join(key), diagnostics: diagnostics)
    }

    public static func any(_ value: ConfigNode, path: String, diagnostics: DiagnosticCollector) -> (typeURL: String, reader: ObjectReader)? {
        guard let typeEntry = value.entry("@type"), let url = typeEntry.value.scalarText else {
            diagnostics.error(value.location, path, "typed config has no \"@type\"",
                              fix: "add `\"@type\": type.googleapis.com/<message name>` as the first key")
            return nil
        }
        let messageName = url.split(separator: "/").last.map(String.init) ?? url
        guard let reader = ObjectReader(value, path: path, message: messageName, diagnostics: diagnostics) else { return nil }
        reader.accept("@type")
        return (url, reader)
    }

    /// Exactly one of `keys` may be set; reports conflicts (and absence when `required`).
    @discardableResult
    public func oneOf(_ keys: [String], required: Bool, what: String) -> String? {
        let present = keys.filter { has($0) }
        if present.count > 1 {
            for extra in present.dropFirst() { consumed.insert(extra) }  // reported here, not again by finish()
            diagnostics.error(location(of: present[1]), join(present[1]),
                              "only one of \(keys.joined(separator: ", ")) may be set, found \(present.joined(separator: " and "))",
                              fix: "keep one \(what) and remove the others")
        }
        if present.isEmpty && required {
            diagnostics.error(node.location, path, "\(what) is missing: set one of \(keys.joined(separator: ", "))",
                              fix: "add `\(keys[0]): ...` (or one of the others)")
        }
        return present.first
    }

    // MARK: finish

    /// Reports every field not read: "not supported yet" when Envoy's schema has it, else unknown.
    /// `known` adds names that are valid here although the schema table lacks them.
    public func finish(known extra: Set<String> = []) {
        let schema = EnvoySchema.fields(of: message)
        for name in order where !consumed.contains(name) {
            guard let entry = fields[name] else { continue }
            if schema?.contains(name) == true || extra.contains(name) {
                diagnostics.error(entry.keyLocation, join(entry.key),
                                  "\(Self.shortName(message)).\(name) is not supported yet by Ferry",
                                  fix: "remove it (see docs/compatibility.md for the supported subset)")
            } else {
                let candidates = (schema ?? []).union(extra).union(consumed)
                let suggestion = Suggestion.closest(to: name, in: candidates)
                diagnostics.error(entry.keyLocation, join(entry.key),
                                  "unknown field \"\(entry.key)\" in \(Self.shortName(message))"
                                      + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""),
                                  fix: suggestion.map { "rename it to \($0)" } ?? "remove it; \(Self.shortName(message)) has no such field")
            }
        }
    }
}

/// An Envoy enum as written in config: its proto name and number.
public protocol ConfigEnum: CaseIterable, Sendable, Equatable {
    var protoName: String { get }
    var protoNumber: Int { get }
}

extension ConfigEnum {
    static var allNames: String { allCases.map(\.protoName).joined(separator: ", ") }
}

extension ConfigEnum where Self: RawRepresentable, RawValue == String {
    public var protoName: String { rawValue }
}
