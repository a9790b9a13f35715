/// `envoy.config.core.v3.HeaderValueOption`: one header to add, with Envoy's append semantics.
public struct HeaderValueOption: Sendable {
    public enum AppendAction: String, ConfigEnum {
        case appendIfExistsOrAdd = "APPEND_IF_EXISTS_OR_ADD"
        case addIfAbsent = "ADD_IF_ABSENT"
        case overwriteIfExistsOrAdd = "OVERWRITE_IF_EXISTS_OR_ADD"
        case overwriteIfExists = "OVERWRITE_IF_EXISTS"
        public var protoNumber: Int {
            switch self {
            case .appendIfExistsOrAdd: 0
            case .addIfAbsent: 1
            case .overwriteIfExistsOrAdd: 2
            case .overwriteIfExists: 3
            }
        }
    }

    /// Lower-cased header name.
    public var name: String
    public var value: FormatString
    public var action: AppendAction
    public var keepEmptyValue: Bool

    public init(name: String, value: FormatString, action: AppendAction = .appendIfExistsOrAdd, keepEmptyValue: Bool = false) {
        self.name = name.lowercased()
        self.value = value
        self.action = action
        self.keepEmptyValue = keepEmptyValue
    }

    static func decode(_ r: ObjectReader) -> HeaderValueOption? {
        defer { r.finish() }
        guard let header = r.object("header", "envoy.config.core.v3.HeaderValue") else {
            r.diagnostics.error(r.node.location, r.join("header"), "required field is missing",
                                fix: "write `header: {key: x-name, value: some-value}`")
            r.skipRemaining()
            return nil
        }
        defer { header.finish() }
        // When the key is rejected, the other fields are not reported again as unsupported.
        func skipRest() {
            header.skipRemaining()
            r.skipRemaining()
        }
        guard let key = header.requiredString("key") else { skipRest(); return nil }
        if !HeaderMutations.isValidName(key) {
            header.diagnostics.error(header.valueLocation(of: "key"), header.join("key"), "\"\(key)\" is not a valid header name",
                                     fix: "use letters, digits and '-' only")
            skipRest()
            return nil
        }
        if key.hasPrefix(":") || key.lowercased() == "host" {
            header.diagnostics.error(header.valueLocation(of: "key"), header.join("key"),
                                     "pseudo-headers and host cannot be added here (as in Envoy)",
                                     fix: key.lowercased() == "host" || key.lowercased() == ":authority"
                                         ? "use host_rewrite_literal on the route to change the Host header"
                                         : "remove it; rewrite the path with prefix_rewrite or regex_rewrite on the route")
            skipRest()
            return nil
        }
        let valueText = header.string("value") ?? ""
        if valueText.utf8.contains(where: { $0 == 0 || $0 == 0x0A || $0 == 0x0D }) {
            // As Envoy's HeaderValue.value pattern ^[^\x00\n\r]*$: such a value would split an
            // HTTP/1 header in two and is malformed in HTTP/2.
            header.diagnostics.error(header.valueLocation(of: "value"), header.join("value"),
                                     "a header value cannot contain NUL, CR or LF",
                                     fix: "remove the line break; a header that needs several values can be added once per value")
            skipRest()
            return nil
        }
        if header.has("raw_value") {
            _ = header.raw("raw_value")
            header.diagnostics.error(header.location(of: "raw_value"), header.join("raw_value"),
                                     "HeaderValue.raw_value is not supported yet by Ferry", fix: "write the header value as text in `value`")
        }
        let value: FormatString
        do {
            value = try FormatString(parsing: valueText)
        } catch {
            header.diagnostics.error(header.valueLocation(of: "value"), header.join("value"), error.message, fix: error.fix)
            skipRest()
            return nil
        }
        var action = HeaderValueOption.AppendAction.appendIfExistsOrAdd
        if r.has("append") && r.has("append_action") {
            r.diagnostics.error(r.location(of: "append"), r.join("append"), "append and append_action cannot both be set",
                                fix: "use append_action only (append is deprecated)")
        }
        if let append = r.bool("append") { action = append ? .appendIfExistsOrAdd : .overwriteIfExistsOrAdd }
        if let explicit = r.enumeration("append_action", AppendAction.self) { action = explicit }
        return HeaderValueOption(name: key, value: value, action: action, keepEmptyValue: r.bool("keep_empty_value") ?? false)
    }
}

/// Headers to add and remove at one level (route, virtual host or route configuration).
public struct HeaderMutations: Sendable {
    public var add: [HeaderValueOption] = []
    public var remove: [String] = []

    public init(add: [HeaderValueOption] = [], remove: [String] = []) {
        self.add = add
        self.remove = remove
    }

    public var isEmpty: Bool { add.isEmpty && remove.isEmpty }

    static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        let body = name.hasPrefix(":") ? name.dropFirst() : Substring(name)
        return !body.isEmpty && body.utf8.allSatisfy { byte in
            // RFC 9110 token characters.
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Reads `<prefix>headers_to_add` and `<prefix>headers_to_remove` (prefix `request_` or `response_`).
    static func decode(_ r: ObjectReader, prefix: String) -> HeaderMutations {
        var mutations = HeaderMutations()
        mutations.add = r.objects("\(prefix)headers_to_add", "envoy.config.core.v3.HeaderValueOption")
            .compactMap(HeaderValueOption.decode)
        for (name, location) in r.strings("\(prefix)headers_to_remove") {
            if name.hasPrefix(":") || name.lowercased() == "host" {
                r.diagnostics.error(location, r.join("\(prefix)headers_to_remove"),
                                    "pseudo-headers and host cannot be removed (as in Envoy)", fix: "remove \"\(name)\" from the list")
                continue
            }
            guard isValidName(name) else {
                r.diagnostics.error(location, r.join("\(prefix)headers_to_remove"), "\"\(name)\" is not a valid header name", fix: nil)
                continue
            }
            mutations.remove.append(name.lowercased())
        }
        return mutations
    }
}
