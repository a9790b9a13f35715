/// Full names of the well-known types whose JSON form is special.
enum WellKnown {
    static let any = "google.protobuf.Any"
    static let timestamp = "google.protobuf.Timestamp"
    static let duration = "google.protobuf.Duration"
    static let fieldMask = "google.protobuf.FieldMask"
    static let structType = "google.protobuf.Struct"
    static let value = "google.protobuf.Value"
    static let listValue = "google.protobuf.ListValue"
    static let nullValue = "google.protobuf.NullValue"
    static let wrappers: Set<String> = [
        "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
    ]

    /// Types printed inside an `Any` as `{"@type": ..., "value": <special form>}`.
    static func hasSpecialJSON(_ name: String) -> Bool {
        wrappers.contains(name) || [any, timestamp, duration, fieldMask, structType, value, listValue].contains(name)
    }
}
