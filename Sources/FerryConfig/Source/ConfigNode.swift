import Yams

/// A YAML/JSON document tree in which every node remembers where it was written.
///
/// Ferry decodes configuration from this tree rather than through `Codable`, so that every
/// error can name its file, line, column and field path, and so that unknown keys are caught
/// (Codable ignores them silently). `--config-yaml` overlays are merged on this tree.
public struct ConfigNode: Sendable {
    public enum ScalarStyle: Sendable { case plain, quoted }

    public struct Entry: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: ConfigNode
    }

    public indirect enum Value: Sendable {
        case mapping([Entry])
        case sequence([ConfigNode])
        case scalar(String, ScalarStyle)
        case null
    }

    public var value: Value
    public var location: SourceLocation

    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }

    public var entries: [Entry]? {
        if case .mapping(let entries) = value { return entries }
        return nil
    }

    public var elements: [ConfigNode]? {
        if case .sequence(let elements) = value { return elements }
        return nil
    }

    public var scalarText: String? {
        if case .scalar(let text, _) = value { return text }
        return nil
    }

    public var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    public func entry(_ key: String) -> Entry? { entries?.first { $0.key == key } }

    /// A short word for error messages: "a mapping", "a list", "a string", "null".
    public var kindDescription: String {
        switch value {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let text, _): return "the value \"\(text)\""
        case .null: return "null"
        }
    }
}

extension ConfigNode {
    /// Converts a composed Yams tree, resolving YAML merge keys (`<<: *anchor`).
    init(yams node: Node, file: String) {
        let location = SourceLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
        switch node {
        case .scalar(let scalar):
            let quoted = scalar.style != .plain
            if !quoted && ["", "~", "null", "Null", "NULL"].contains(scalar.string) {
                self.init(.null, at: location)
            } else {
                self.init(.scalar(scalar.string, quoted ? .quoted : .plain), at: location)
            }
        case .sequence(let sequence):
            self.init(.sequence(sequence.map { ConfigNode(yams: $0, file: file) }), at: location)
        case .alias(let alias):
            self.init(.scalar("*\(alias.anchor)", .plain), at: location)
        case .mapping(let mapping):
            var entries: [Entry] = []
            var merged: [Entry] = []
            for (key, value) in mapping {
                let keyText = key.string ?? ""
                let converted = ConfigNode(yams: value, file: file)
                if keyText == "<<", key.scalar?.style == .plain {
                    // Merge keys: explicit keys of this mapping win over merged ones.
                    let sources = converted.elements ?? [converted]
                    for source in sources { merged.append(contentsOf: source.entries ?? []) }
                    continue
                }
                let keyLocation = SourceLocation(file: file, line: key.mark?.line ?? 0, column: key.mark?.column ?? 0)
                entries.append(Entry(key: keyText, keyLocation: keyLocation, value: converted))
            }
            for entry in merged where !entries.contains(where: { $0.key == entry.key }) {
                entries.append(entry)
            }
            self.init(.mapping(entries), at: location)
        }
    }

    /// Overlays `other` on `self` the way Envoy's `--config-yaml` does: mappings merge key by key,
    /// scalars and lists are replaced.
    public func merging(_ other: ConfigNode) -> ConfigNode {
        guard case .mapping(var mine) = value, case .mapping(let theirs) = other.value else { return other }
        for entry in theirs {
            if let index = mine.firstIndex(where: { $0.key == entry.key }) {
                mine[index].value = mine[index].value.merging(entry.value)
            } else {
                mine.append(entry)
            }
        }
        return ConfigNode(.mapping(mine), at: location)
    }
}
