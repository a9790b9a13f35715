/// Options of `TranscoderConfig`, named after the fields of Envoy's
/// `envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder`.
public struct TranscoderOptions: Sendable, Equatable {
    /// `print_options`.
    public var printOptions = JSONPrintOptions()
    /// `ignore_unknown_query_parameters`: a query parameter that names no field is ignored
    /// instead of failing the request.
    public var ignoreUnknownQueryParameters = false
    /// `ignored_query_parameters`: parameters never mapped to fields (e.g. `api_key`).
    public var ignoredQueryParameters: Set<String> = []
    /// `url_unescape_spec` for path variables that span several segments.
    public var urlUnescapeSpec = URLUnescapeSpec.allCharactersExceptReserved
    /// `query_param_unescape_plus`: `+` in a query parameter value is a space.
    public var queryParamUnescapePlus = false
    /// `auto_mapping`: a method without a `google.api.http` rule is bound to
    /// `POST /pkg.Service/Method` with body `*`.
    public var autoMapping = false

    public init() {}
}
