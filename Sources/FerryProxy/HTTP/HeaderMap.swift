/// Ordered HTTP header fields with lower-case names (HTTP/2 style, as Envoy keeps them).
///
/// A plain array: messages carry few headers, lookups are short scans comparing small
/// strings, and order is preserved for forwarding. Several fields with one name are kept as
/// separate entries; `joined(_:)` gives Envoy's comma-joined view.
public struct HeaderMap: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (name: String, value: String)

    public private(set) var entries: [Element]

    public init() { entries = [] }

    public init(_ entries: [Element]) {
        self.entries = entries.map { ($0.name.lowercased(), $0.value) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { ($0.0.lowercased(), $0.1) }
    }

    /// Internal fast path for parsers that already lower-cased the names.
    init(lowercased entries: [Element]) { self.entries = entries }

    public func makeIterator() -> IndexingIterator<[Element]> { entries.makeIterator() }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The first value of `name` (lower-case).
    @inline(__always)
    public func first(_ name: String) -> String? {
        for entry in entries where entry.name == name { return entry.value }
        return nil
    }

    public func contains(_ name: String) -> Bool {
        entries.contains { $0.name == name }
    }

    public func values(_ name: String) -> [String] {
        entries.compactMap { $0.name == name ? $0.value : nil }
    }

    /// All values of `name` joined with ",", as Envoy matches and logs multi-valued headers.
    public func joined(_ name: String) -> String? {
        var result: String?
        for entry in entries where entry.name == name {
            if result == nil { result = entry.value } else { result! += "," + entry.value }
        }
        return result
    }

    public mutating func add(_ name: String, _ value: String) {
        entries.append((name.lowercased(), value))
    }

    /// Appends without lower-casing; `name` must already be lower-case.
    @inline(__always)
    public mutating func addLowercased(_ name: String, _ value: String) {
        entries.append((name, value))
    }

    /// Replaces every field named `name` with one field (kept at the first one's position).
    public mutating func set(_ name: String, _ value: String) {
        let name = name.lowercased()
        if let first = entries.firstIndex(where: { $0.name == name }) {
            entries[first].value = value
            var i = entries.count - 1
            while i > first {
                if entries[i].name == name { entries.remove(at: i) }
                i -= 1
            }
        } else {
            entries.append((name, value))
        }
    }

    @discardableResult
    public mutating func remove(_ name: String) -> Bool {
        let before = entries.count
        entries.removeAll { $0.name == name }
        return entries.count != before
    }

    public mutating func removeAll(where predicate: (Element) -> Bool) {
        entries.removeAll(where: predicate)
    }

    /// Bytes these fields take on the wire in HTTP/1 (`name: value\r\n` each).
    public var wireSize: Int {
        entries.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
    }
}

extension HeaderMap: CustomStringConvertible {
    public var description: String { entries.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }
}

/// True when a comma-separated header value (`Connection: keep-alive, Upgrade`) contains `token`,
/// compared case-insensitively.
@inline(__always)
func headerValue(_ value: String, containsToken token: String) -> Bool {
    if value.count == token.count { return value.lowercased() == token }
    for part in value.split(separator: ",") {
        if part.trimmingSpaces().lowercased() == token { return true }
    }
    return false
}

extension StringProtocol {
    func trimmingSpaces() -> SubSequence {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
