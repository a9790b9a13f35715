/// Settings that apply to a whole decode run.
public struct DecodeContext: Sendable {
    /// Directory for relative `filename` data sources; nil means the working directory (as Envoy).
    public var baseDirectory: String?

    public init(baseDirectory: String? = nil) { self.baseDirectory = baseDirectory }
}
