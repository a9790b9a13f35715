/// Everything that can go wrong while transcoding, each case with a message fit for the body
/// of an HTTP 400 (bad request data) or for a config error (bad descriptors or rules).
///
/// Messages name the offending field, type or byte offset so that a client can fix its request.
public enum TranscodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Protobuf bytes that do not parse: truncated, overlong varint, bad wire type, bad UTF-8.
    case malformedProtobuf(String)
    /// A JSON text that is not RFC 8259 JSON (or nests deeper than the limit).
    case malformedJSON(String)
    /// Well-formed JSON whose content does not fit the message: unknown field, wrong type,
    /// out-of-range number, unknown enum name, bad timestamp...
    case invalidJSON(String)
    /// A path variable or query parameter that does not fit the message.
    case invalidParameter(String)
    /// A query parameter that names no field of the request message. Envoy passes such a
    /// request through untranscoded unless `reject_unknown_query_parameters` is set
    /// (`TranscoderConfig.unknownQueryParameters` finds them before the body arrives).
    case unknownQueryParameter(String)
    /// The descriptor set or an HTTP rule is unusable (missing type, bad path template).
    case invalidDescriptor(String)
    /// A gRPC frame that cannot be handled (compressed, oversized).
    case invalidFrame(String)

    public var message: String {
        switch self {
        case .malformedProtobuf(let m), .malformedJSON(let m), .invalidJSON(let m), .invalidParameter(let m),
            .unknownQueryParameter(let m), .invalidDescriptor(let m), .invalidFrame(let m):
            return m
        }
    }

    public var description: String { message }
}
