/// Where a value came from: a file (or `--config-yaml`), a 1-based line and a 1-based column.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// A location for values that Ferry synthesised (defaults, test fixtures built in code).
    public static let unknown = SourceLocation(file: "<builtin>", line: 0, column: 0)

    public var description: String { "\(file):\(line):\(column)" }
}
