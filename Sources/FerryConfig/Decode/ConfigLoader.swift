import Foundation

/// A decoded and validated configuration together with the merged tree it came from.
public struct LoadedConfig: Sendable {
    public var bootstrap: Bootstrap
    /// The merged document (file + `--config-yaml`), for `/config_dump`.
    public var document: ConfigNode
    public var warnings: [ConfigDiagnostic]
    public var sources: [String]
}

/// All problems of a configuration that failed to load.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]
    public init(diagnostics: [ConfigDiagnostic]) { self.diagnostics = diagnostics }
    public var errors: [ConfigDiagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String {
        let errors = self.errors
        let header = "configuration has \(errors.count) error\(errors.count == 1 ? "" : "s"):"
        return ([header] + diagnostics.map(\.description)).joined(separator: "\n")
    }
}

/// The config pipeline up to a validated model: files → located tree → `--config-yaml` merged on
/// top → strict decode → cross-reference validation. Compiling into run-time tables is
/// FerryProxy's job.
public enum ConfigLoader {
    public static func load(path: String?, configYAML: String?, context: DecodeContext = DecodeContext()) -> Result<LoadedConfig, ConfigErrors> {
        var document: ConfigNode?
        var sources: [String] = []
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                let exists = FileManager.default.fileExists(atPath: path)
                return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(
                    location: SourceLocation(file: path, line: 0, column: 0), path: "",
                    message: exists ? "cannot read the config file (permission denied?)" : "config file not found",
                    fix: exists ? "make the file readable by the user running Ferry" : "check the path given to -c/--config-path")]))
            }
            if path.hasSuffix(".pb") || path.hasSuffix(".pb_text") {
                return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(
                    location: SourceLocation(file: path, line: 0, column: 0), path: "",
                    message: "binary and text protobuf configs are not supported yet by Ferry",
                    fix: "convert the file to YAML or JSON")]))
            }
            guard let text = String(data: data, encoding: .utf8) else {
                return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(
                    location: SourceLocation(file: path, line: 1, column: 1), path: "", message: "the file is not UTF-8 text",
                    fix: "save the file as UTF-8")]))
            }
            switch ConfigDocument.parse(text, file: path) {
            case .success(let node): document = node
            case .failure(let diagnostic): return .failure(ConfigErrors(diagnostics: [diagnostic]))
            }
            sources.append(path)
        }
        if let configYAML, !configYAML.isEmpty {
            switch ConfigDocument.parse(configYAML, file: "--config-yaml") {
            case .success(let overlay): document = document.map { $0.merging(overlay) } ?? overlay
            case .failure(let diagnostic): return .failure(ConfigErrors(diagnostics: [diagnostic]))
            }
            sources.append("--config-yaml")
        }
        guard let document else {
            return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(
                location: .unknown, path: "", message: "no configuration given",
                fix: "pass -c/--config-path FILE or --config-yaml TEXT")]))
        }
        return load(document: document, sources: sources, context: context)
    }

    public static func load(document: ConfigNode, sources: [String] = [], context: DecodeContext = DecodeContext()) -> Result<LoadedConfig, ConfigErrors> {
        let diagnostics = DiagnosticCollector()
        if let entries = document.entries, entries.isEmpty {
            return .failure(ConfigErrors(diagnostics: [ConfigDiagnostic(
                location: document.location, path: "", message: "the configuration is empty",
                fix: "write a bootstrap with static_resources (listeners and clusters); see examples/quickstart.yaml")]))
        }
        guard let reader = ObjectReader(document, path: "", message: "envoy.config.bootstrap.v3.Bootstrap", diagnostics: diagnostics) else {
            return .failure(ConfigErrors(diagnostics: diagnostics.diagnostics))
        }
        let bootstrap = Bootstrap.decode(reader, context: context)
        BootstrapValidator.validate(bootstrap, diagnostics: diagnostics)
        if diagnostics.hasErrors {
            return .failure(ConfigErrors(diagnostics: diagnostics.diagnostics.sorted(by: ConfigLoader.order)))
        }
        return .success(LoadedConfig(bootstrap: bootstrap, document: document, warnings: diagnostics.warnings, sources: sources))
    }

    /// Parses `text` as a whole configuration (tests, `--config-yaml` only).
    public static func load(yaml text: String, file: String = "<inline>") -> Result<LoadedConfig, ConfigErrors> {
        switch ConfigDocument.parse(text, file: file) {
        case .success(let node): return load(document: node, sources: [file])
        case .failure(let diagnostic): return .failure(ConfigErrors(diagnostics: [diagnostic]))
        }
    }

    static func order(_ a: ConfigDiagnostic, _ b: ConfigDiagnostic) -> Bool {
        if a.location.file != b.location.file { return a.location.file < b.location.file }
        if a.location.line != b.location.line { return a.location.line < b.location.line }
        return a.location.column < b.location.column
    }
}
