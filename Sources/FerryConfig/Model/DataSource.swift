import Foundation

/// `envoy.config.core.v3.DataSource`: bytes given inline, in a file, or in an environment
/// variable. Files and variables are read when the configuration is loaded.
public struct DataSource: Sendable, Hashable {
    public enum Origin: Sendable, Hashable {
        case inline
        case file(String)
        case environment(String)
    }

    public var bytes: [UInt8]
    public var origin: Origin

    public init(bytes: [UInt8], origin: Origin = .inline) {
        self.bytes = bytes
        self.origin = origin
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    static func decode(_ r: ObjectReader, baseDirectory: String?) -> DataSource? {
        defer { r.finish(known: ["watched_directory"]) }
        let which = r.oneOf(["inline_string", "inline_bytes", "filename", "environment_variable"], required: true,
                            what: "data source")
        switch which {
        case "inline_string":
            return DataSource(bytes: Array((r.string("inline_string") ?? "").utf8))
        case "inline_bytes":
            guard let text = r.string("inline_bytes") else { return nil }
            guard let data = Data(base64Encoded: text) else {
                r.diagnostics.error(r.valueLocation(of: "inline_bytes"), r.join("inline_bytes"), "not valid base64",
                                    fix: "encode the bytes with base64, or use inline_string for text")
                return nil
            }
            return DataSource(bytes: Array(data))
        case "filename":
            guard let name = r.requiredString("filename") else { return nil }
            let path = name.hasPrefix("/") || baseDirectory == nil ? name : "\(baseDirectory!)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else {
                r.diagnostics.error(r.valueLocation(of: "filename"), r.join("filename"), "cannot read file \"\(path)\"",
                                    fix: "check that the file exists and is readable by the Ferry process")
                return nil
            }
            return DataSource(bytes: Array(data), origin: .file(path))
        case "environment_variable":
            guard let name = r.requiredString("environment_variable") else { return nil }
            guard let value = ProcessInfo.processInfo.environment[name] else {
                r.diagnostics.error(r.valueLocation(of: "environment_variable"), r.join("environment_variable"),
                                    "environment variable \(name) is not set", fix: "export \(name) before starting Ferry")
                return nil
            }
            return DataSource(bytes: Array(value.utf8), origin: .environment(name))
        default:
            return nil
        }
    }
}
