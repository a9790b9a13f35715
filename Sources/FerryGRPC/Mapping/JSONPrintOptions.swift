/// How messages are printed as JSON; the fields of Envoy's
/// `grpc_json_transcoder.print_options`. All default to false.
public struct JSONPrintOptions: Sendable, Equatable {
    /// Indent with one space per level and end with a newline.
    public var addWhitespace = false
    /// Print fields without presence even when they hold their default (0, "", false, the
    /// first enum value, empty repeated and map fields). Fields with presence (messages,
    /// `optional`, oneof members) are still printed only when set.
    public var alwaysPrintPrimitiveFields = false
    /// Print enum values as numbers instead of names.
    public var alwaysPrintEnumsAsInts = false
    /// Use the proto field names (`snake_case`) instead of the JSON names (`lowerCamelCase`).
    public var preserveProtoFieldNames = false
    /// A server stream is sent as one JSON message per line instead of a JSON array.
    public var streamNewlineDelimited = false
    /// A server stream is sent as server-sent events (`data: <message>` and a blank line).
    public var streamSSEStyleDelimited = false

    public init(addWhitespace: Bool = false, alwaysPrintPrimitiveFields: Bool = false,
                alwaysPrintEnumsAsInts: Bool = false, preserveProtoFieldNames: Bool = false) {
        self.addWhitespace = addWhitespace
        self.alwaysPrintPrimitiveFields = alwaysPrintPrimitiveFields
        self.alwaysPrintEnumsAsInts = alwaysPrintEnumsAsInts
        self.preserveProtoFieldNames = preserveProtoFieldNames
    }
}
