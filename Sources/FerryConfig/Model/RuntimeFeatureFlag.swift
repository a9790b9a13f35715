/// `envoy.config.core.v3.RuntimeFeatureFlag`: a boolean switch a runtime key may override
/// (`enabled` of the adaptive concurrency filter).
public struct RuntimeFeatureFlag: Sendable, Equatable {
    public var defaultValue: Bool
    /// nil (or empty in config): only the default applies.
    public var runtimeKey: String?

    public init(_ defaultValue: Bool, runtimeKey: String? = nil) {
        self.defaultValue = defaultValue
        self.runtimeKey = runtimeKey
    }

    /// The flag's value given the runtime's text for its key, as Envoy's `getBoolean` reads it:
    /// an integer is true unless 0, `true`/`false` in any case; anything else (or no value)
    /// leaves the default.
    public func value(runtime text: String?) -> Bool {
        guard let text else { return defaultValue }
        let trimmed = text.trimmingWhitespace()
        if let number = UInt64(trimmed) { return number != 0 }
        switch trimmed.lowercased() {
        case "true": return true
        case "false": return false
        default: return defaultValue
        }
    }

    static func decode(_ r: ObjectReader) -> RuntimeFeatureFlag? {
        defer { r.finish() }
        let value = r.bool("default_value")
        if value == nil && !r.has("default_value") {
            r.diagnostics.error(r.node.location, r.join("default_value"), "required field is missing (as in Envoy)",
                                fix: "add `default_value: true` (or false)")
        }
        let key = r.string("runtime_key")
        guard let value else { return nil }
        return RuntimeFeatureFlag(value, runtimeKey: key?.isEmpty == false ? key : nil)
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[start...end]
    }
}
