/// One `typed_per_filter_config` entry: a filter's settings for a route, virtual host or route
/// configuration, keyed by the filter's name in `http_filters`.
public struct FilterOverride: Sendable {
    /// `FilterConfig.disabled`: the filter does not run for requests on this route.
    public var disabled: Bool
    /// The filter's own config for this route (nil when the entry only enables or disables it).
    public var kind: HttpFilter.Kind?
    /// `FilterConfig.is_optional`: skip the entry (with a warning) if its filter is not in the chain.
    public var isOptional: Bool
    public var location: SourceLocation
    public var path: String

    public init(disabled: Bool = false, kind: HttpFilter.Kind?, isOptional: Bool = false, location: SourceLocation = .unknown,
                path: String = "") {
        self.disabled = disabled
        self.kind = kind
        self.isOptional = isOptional
        self.location = location
        self.path = path
    }

    static let filterConfigType = "envoy.config.route.v3.FilterConfig"

    /// Decodes a `typed_per_filter_config` map; unknown or unsupported types are errors by name.
    static func decodeMap(_ r: ObjectReader) -> [String: FilterOverride] {
        var overrides: [String: FilterOverride] = [:]
        let mapPath = r.join("typed_per_filter_config")
        for entry in r.map("typed_per_filter_config") {
            let path = "\(mapPath).\(entry.key)"
            guard let (url, reader) = ObjectReader.any(entry.value, path: path, diagnostics: r.diagnostics) else { continue }
            let typeName = url.split(separator: "/").last.map(String.init) ?? url
            var override = FilterOverride(kind: nil, location: entry.value.location, path: path)
            var inner: (typeURL: String, reader: ObjectReader)? = (url, reader)
            if typeName == filterConfigType {
                override.disabled = reader.bool("disabled") ?? false
                override.isOptional = reader.bool("is_optional") ?? false
                inner = reader.any("config")
                reader.finish()
            }
            if let (innerURL, innerReader) = inner {
                let innerType = innerURL.split(separator: "/").last.map(String.init) ?? innerURL
                if let decoder = HttpFilter.decoders[innerType] {
                    override.kind = decoder(innerReader)
                    if override.kind == nil { continue }
                } else {
                    innerReader.accept(contentsOf: innerReader.keys)
                    if !override.isOptional {
                        r.diagnostics.error(entry.value.location, path,
                                            "per-route config of type \(innerType) is not supported yet by Ferry",
                                            fix: "remove the entry, or wrap it in envoy.config.route.v3.FilterConfig with `is_optional: true`")
                    }
                    continue
                }
            } else if !override.disabled {
                r.diagnostics.error(entry.value.location, path, "FilterConfig has neither `config` nor `disabled: true`",
                                    fix: "add the filter's per-route `config`, or `disabled: true` to turn it off here")
                continue
            }
            overrides[entry.key] = override
        }
        return overrides
    }
}
