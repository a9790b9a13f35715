/// `envoy.type.v3.FractionalPercent`: numerator over 100, 10,000 or 1,000,000.
public struct FractionalPercent: Sendable, Equatable {
    public enum Denominator: String, ConfigEnum {
        case hundred = "HUNDRED", tenThousand = "TEN_THOUSAND", million = "MILLION"

        public var protoNumber: Int {
            switch self {
            case .hundred: 0
            case .tenThousand: 1
            case .million: 2
            }
        }

        public var value: UInt64 {
            switch self {
            case .hundred: 100
            case .tenThousand: 10_000
            case .million: 1_000_000
            }
        }
    }

    public var numerator: UInt32
    public var denominator: Denominator

    public init(numerator: UInt32, denominator: Denominator = .hundred) {
        self.numerator = numerator
        self.denominator = denominator
    }

    public static let all = FractionalPercent(numerator: 100)
    public static let none = FractionalPercent(numerator: 0)

    /// The share as a fraction of one million (Envoy clamps a numerator above its denominator).
    public var perMillion: UInt64 { min(UInt64(numerator), denominator.value) * (1_000_000 / denominator.value) }

    static func decode(_ r: ObjectReader) -> FractionalPercent {
        defer { r.finish() }
        let numerator = r.uint32("numerator") ?? 0
        let denominator = r.enumeration("denominator", Denominator.self) ?? .hundred
        return FractionalPercent(numerator: numerator, denominator: denominator)
    }

    /// A runtime value as Envoy's `featureEnabled` reads it for a fractional percent: a
    /// FractionalPercent written as YAML (`{numerator: 5, denominator: TEN_THOUSAND}`, or one
    /// field a line), Ferry's flattened static-layer form `5/TEN_THOUSAND`, or a plain number,
    /// which is a percentage whatever the default's denominator (above 100: always). Nil for
    /// anything else (the default applies).
    public static func parse(runtime value: String) -> FractionalPercent? {
        if let slash = value.firstIndex(of: "/") {
            guard let n = UInt32(value[..<slash]),
                  let d = Denominator(rawValue: String(value[value.index(after: slash)...])) else { return nil }
            return FractionalPercent(numerator: n, denominator: d)
        }
        if let yaml = RuntimeValue.fractionalPercentYAML(value) { return yaml }
        guard let number = RuntimeValue.integer(value) else { return nil }
        return FractionalPercent(numerator: UInt32(min(number, 100)))
    }
}

/// `envoy.config.core.v3.RuntimeFractionalPercent`: a default share a runtime key may override
/// (filter_enabled / filter_enforced of the governance filters, fault percentages).
public struct RuntimeFractionalPercent: Sendable, Equatable {
    public var defaultValue: FractionalPercent
    public var runtimeKey: String?

    public init(_ defaultValue: FractionalPercent, runtimeKey: String? = nil) {
        self.defaultValue = defaultValue
        self.runtimeKey = runtimeKey
    }

    public static let always = RuntimeFractionalPercent(.all)

    static func decode(_ r: ObjectReader) -> RuntimeFractionalPercent {
        defer { r.finish() }
        let value = r.object("default_value", "envoy.type.v3.FractionalPercent").map(FractionalPercent.decode)
        if value == nil {
            r.diagnostics.error(r.node.location, r.join("default_value"), "required field is missing",
                                fix: "add `default_value: {numerator: 100, denominator: HUNDRED}`")
        }
        let key = r.string("runtime_key")
        return RuntimeFractionalPercent(value ?? .all, runtimeKey: key?.isEmpty == false ? key : nil)
    }
}

extension ObjectReader {
    /// An optional `RuntimeFractionalPercent` field.
    public func runtimeFraction(_ key: String) -> RuntimeFractionalPercent? {
        object(key, "envoy.config.core.v3.RuntimeFractionalPercent").map(RuntimeFractionalPercent.decode)
    }

    /// An optional `FractionalPercent` field.
    public func fractionalPercent(_ key: String) -> FractionalPercent? {
        object(key, "envoy.type.v3.FractionalPercent").map(FractionalPercent.decode)
    }
}
