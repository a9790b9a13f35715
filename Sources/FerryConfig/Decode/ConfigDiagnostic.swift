/// One problem found in a configuration: where, which field, what is wrong and how to fix it.
public struct ConfigDiagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }

    public var severity: Severity
    public var location: SourceLocation
    /// Field path in Envoy's spelling, e.g. `static_resources.clusters[2].lb_policy`.
    public var path: String
    public var message: String
    public var fix: String?

    public init(severity: Severity = .error, location: SourceLocation, path: String, message: String, fix: String?) {
        self.severity = severity
        self.location = location
        self.path = path
        self.message = message
        self.fix = fix
    }

    /// `file:line:column: error: path: message` and, on the next line, the fix.
    public var description: String {
        var text = "\(location): \(severity.rawValue): "
        if !path.isEmpty { text += "\(path): " }
        text += message
        if let fix { text += "\n    fix: \(fix)" }
        return text
    }
}

/// Collects diagnostics while a configuration is decoded and validated, so that one run reports
/// every problem rather than the first.
public final class DiagnosticCollector {
    public private(set) var diagnostics: [ConfigDiagnostic] = []

    public init() {}

    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }
    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .warning } }

    public func error(_ location: SourceLocation, _ path: String, _ message: String, fix: String? = nil) {
        diagnostics.append(ConfigDiagnostic(location: location, path: path, message: message, fix: fix))
    }

    public func warning(_ location: SourceLocation, _ path: String, _ message: String, fix: String? = nil) {
        diagnostics.append(ConfigDiagnostic(severity: .warning, location: location, path: path, message: message, fix: fix))
    }

    public func append(_ diagnostic: ConfigDiagnostic) { diagnostics.append(diagnostic) }
}

/// "Did you mean" suggestions by edit distance.
public enum Suggestion {
    /// The closest candidate within a distance that scales with the word's length, or nil.
    public static func closest(to word: String, in candidates: some Sequence<String>) -> String? {
        let lowered = word.lowercased()
        var best: (String, Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if distance == 0 { return candidate }
            if best == nil || distance < best!.1 { best = (candidate, distance) }
        }
        guard let (candidate, distance) = best else { return nil }
        let limit = max(2, min(word.count, candidate.count) / 3)
        return distance <= limit ? candidate : nil
    }

    /// Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent
    /// transpositions ("rotue" → "route") each cost one.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var twoBack = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    current[j] = min(current[j], twoBack[j - 2] + 1)
                }
            }
            (twoBack, previous, current) = (previous, current, twoBack)
        }
        return previous[b.count]
    }
}
