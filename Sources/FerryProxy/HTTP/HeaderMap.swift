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

    /// Room for `count` fields without growing (a request's own fields plus the few the
    /// connection manager adds: `x-forwarded-*`, `x-request-id`, ...).
    mutating func reserveCapacity(_ count: Int) { entries.reserveCapacity(count) }

    public func makeIterator() -> IndexingIterator<[Element]> { entries.makeIterator() }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The first value of `name` (lower-case).
    // Lookups loop over indices: `for entry in entries` would copy (and retain) every name and
    // value it passes, which showed up as a large share of request CPU.

    @inline(__always)
    public func first(_ name: String) -> String? {
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, name) { return entries[i].value }
            i += 1
        }
        return nil
    }

    @inline(__always)
    public func contains(_ name: String) -> Bool {
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, name) { return true }
            i += 1
        }
        return false
    }

    /// Whether any field name starts with `prefix` (lower-case ASCII).
    public func containsName(withPrefix prefix: String) -> Bool {
        var i = 0
        while i < entries.count {
            if entries[i].name.utf8.starts(with: prefix.utf8) { return true }
            i += 1
        }
        return false
    }

    public func values(_ name: String) -> [String] {
        var result: [String] = []
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, name) { result.append(entries[i].value) }
            i += 1
        }
        return result
    }

    /// All values of `name` joined with ",", as Envoy matches and logs multi-valued headers.
    public func joined(_ name: String) -> String? {
        var result: String?
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, name) {
                if result == nil { result = entries[i].value } else { result! += "," + entries[i].value }
            }
            i += 1
        }
        return result
    }

    /// Whether any field `name` lists `token` (comma-separated, case-insensitive); no allocation.
    public func hasToken(_ name: String, _ token: String) -> Bool {
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, name) && headerValue(entries[i].value, containsToken: token) { return true }
            i += 1
        }
        return false
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
        setLowercased(name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? name.lowercased() : name, value)
    }

    /// `set` for a name already in lower case (a literal): no scan for capitals.
    mutating func setLowercased(_ name: String, _ value: String) {
        if let first = entries.firstIndex(where: { sameName($0.name, name) }) {
            entries[first].value = value
            var i = entries.count - 1
            while i > first {
                if sameName(entries[i].name, name) { entries.remove(at: i) }
                i -= 1
            }
        } else {
            entries.append((name, value))
        }
    }

    @discardableResult
    public mutating func remove(_ name: String) -> Bool {
        guard contains(name) else { return false }
        entries.removeAll { sameName($0.name, name) }
        return true
    }

    /// Removes every field named one of `names` (lower-case) in one pass over the message; a
    /// message with none of them is only read.
    public mutating func remove(anyOf names: [String]) {
        var i = 0
        while i < entries.count {
            if Self.name(entries[i].name, isOneOf: names) { break }
            i += 1
        }
        guard i < entries.count else { return }
        entries.removeAll { Self.name($0.name, isOneOf: names) }
    }

    @inline(__always)
    private static func name(_ name: String, isOneOf names: [String]) -> Bool {
        var j = 0
        while j < names.count {
            if sameName(name, names[j]) { return true }
            j += 1
        }
        return false
    }

    mutating func remove(at index: Int) { entries.remove(at: index) }

    public mutating func removeAll(where predicate: (Element) -> Bool) {
        entries.removeAll(where: predicate)
    }

    /// True when a content-length or transfer-encoding field is present (one pass, no allocation).
    var containsFraming: Bool {
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, "content-length") || sameName(entries[i].name, "transfer-encoding") { return true }
            i += 1
        }
        return false
    }

    /// The content length when it is the only framing field and a plain decimal (the common
    /// case, parsed without allocating); nil sends the caller down the full checks.
    var singleContentLength: Int? {
        var found: String?
        var i = 0
        while i < entries.count {
            if sameName(entries[i].name, "content-length") {
                if found != nil { return nil }
                found = entries[i].value
            } else if sameName(entries[i].name, "transfer-encoding") {
                return nil
            }
            i += 1
        }
        guard let found else { return nil }
        var value = 0
        var digits = 0
        for byte in found.utf8 {
            guard byte >= 0x30 && byte <= 0x39, digits < 18 else { return nil }
            value = value * 10 + Int(byte - 0x30)
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// Bytes these fields take on the wire in HTTP/1 (`name: value\r\n` each).
    /// By index, as the serializer sizes every head with it (see `first`).
    public var wireSize: Int {
        var size = 0
        var i = 0
        while i < entries.count {
            size += entries[i].name.utf8.count + entries[i].value.utf8.count + 4
            i += 1
        }
        return size
    }
}

extension HeaderMap: CustomStringConvertible {
    public var description: String { entries.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }
}

/// Whether two lower-case field names are equal. Lengths first: `String.==` settles equal small
/// strings inline but calls into the runtime for every unequal pair, and a lookup compares the
/// name against most fields of the message, nearly all of another length.
@inline(__always)
func sameName(_ a: String, _ b: String) -> Bool {
    a.utf8.count == b.utf8.count && a == b
}

/// True when a comma-separated header value (`Connection: keep-alive, Upgrade`) contains `token`
/// (lower-case ASCII), compared case-insensitively, without allocating.
@inline(__always)
func headerValue(_ value: String, containsToken token: String) -> Bool {
    if value.utf8.count == token.utf8.count { return asciiCaseInsensitiveEquals(value, token) }
    let t = token.utf8
    var start = value.utf8.startIndex
    let end = value.utf8.endIndex
    while start < end {
        var stop = start
        while stop < end && value.utf8[stop] != UInt8(ascii: ",") { stop = value.utf8.index(after: stop) }
        // Trim optional whitespace around the element.
        var a = start, b = stop
        while a < b && (value.utf8[a] == 0x20 || value.utf8[a] == 0x09) { a = value.utf8.index(after: a) }
        while b > a {
            let before = value.utf8.index(before: b)
            guard value.utf8[before] == 0x20 || value.utf8[before] == 0x09 else { break }
            b = before
        }
        if value.utf8.distance(from: a, to: b) == t.count {
            var match = true
            var i = a
            for c in t {
                let v = value.utf8[i]
                if v != c && (v | 0x20) != c { match = false; break }
                i = value.utf8.index(after: i)
            }
            if match { return true }
        }
        start = stop < end ? value.utf8.index(after: stop) : end
    }
    return false
}

/// `token` must be lower-case ASCII.
@inline(__always)
func asciiCaseInsensitiveEquals(_ value: String, _ token: String) -> Bool {
    guard value.utf8.count == token.utf8.count else { return false }
    for (a, b) in zip(value.utf8, token.utf8) where a != b && (a | 0x20) != b { return false }
    return true
}

extension StringProtocol {
    func trimmingSpaces() -> SubSequence {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
