import Yams

/// Parses configuration text (YAML, or JSON, which Ferry reads with the same YAML 1.1 parser)
/// into a located `ConfigNode` tree.
public enum ConfigDocument {
    /// Parses `text`; `file` names the source in diagnostics. Syntax errors become one diagnostic
    /// with the parser's line and column.
    public static func parse(_ text: String, file: String) -> Result<ConfigNode, ConfigDiagnostic> {
        if text.utf8.contains(0x09), let line = firstTabIndentedLine(text) {
            return .failure(ConfigDiagnostic(
                location: SourceLocation(file: file, line: line, column: 1), path: "",
                message: "a tab character is used for indentation; YAML allows only spaces",
                fix: "replace the tabs at the start of line \(line) with spaces"))
        }
        do {
            guard let root = try Yams.compose(yaml: text) else {
                return .success(ConfigNode(.mapping([]), at: SourceLocation(file: file, line: 1, column: 1)))
            }
            return .success(ConfigNode(yams: root, file: file))
        } catch let error as YamlError {
            return .failure(diagnostic(for: error, file: file))
        } catch {
            return .failure(ConfigDiagnostic(
                location: SourceLocation(file: file, line: 1, column: 1), path: "",
                message: "cannot parse: \(error)", fix: nil))
        }
    }

    private static func firstTabIndentedLine(_ text: String) -> Int? {
        var line = 1
        for row in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indent = row.prefix { $0 == " " || $0 == "\t" }
            if indent.contains("\t") && indent.count < row.count { return line }
            line += 1
        }
        return nil
    }

    private static func diagnostic(for error: YamlError, file: String) -> ConfigDiagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem
            return ConfigDiagnostic(
                location: SourceLocation(file: file, line: mark.line, column: mark.column), path: "",
                message: "YAML syntax error: \(detail)",
                fix: "check the indentation and quoting around this line")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigDiagnostic(
                location: SourceLocation(file: file, line: context.mark.line, column: context.mark.column), path: "",
                message: "duplicate key \(duplicates.map { "\"\($0)\"" }.joined(separator: ", ")) in one mapping",
                fix: "keep one of the duplicated keys; a later one would silently replace the earlier one")
        case .reader(let problem, let offset, _, _):
            return ConfigDiagnostic(
                location: SourceLocation(file: file, line: 1, column: 1), path: "",
                message: "cannot read the file: \(problem)\(offset.map { " at byte \($0)" } ?? "")",
                fix: "save the file as UTF-8")
        default:
            return ConfigDiagnostic(
                location: SourceLocation(file: file, line: 1, column: 1), path: "",
                message: "cannot parse: \(error)", fix: nil)
        }
    }
}
