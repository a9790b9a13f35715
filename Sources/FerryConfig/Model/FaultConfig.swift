extension HttpFilter {
    /// `envoy.extensions.filters.http.fault.v3.HTTPFault`: injects delays, aborts and response
    /// throttling into matching requests, each on a share of requests that runtime may override.
    /// Defaults are Envoy's: an absent `percentage` is 0 % (only runtime turns the fault on), no
    /// limit on active faults, the `fault.http.*` runtime keys. Only `filter_metadata` (dynamic
    /// metadata, which Ferry does not have) is refused, by name.
    public struct FaultConfig: Sendable {
        /// One kind of fault: where its value comes from, and the share of requests it hits.
        public struct Injection<Source: Sendable & Equatable>: Sendable, Equatable {
            public var source: Source
            public var percentage: FractionalPercent
        }

        /// `envoy.extensions.filters.common.fault.v3.FaultDelay`.
        public enum DelaySource: Sendable, Equatable {
            /// `fixed_delay`, in whole milliseconds (Envoy truncates to milliseconds).
            case fixed(milliseconds: UInt64)
            /// `header_delay`: the request's `x-envoy-fault-delay-request` (milliseconds).
            case header
        }

        /// `envoy.extensions.filters.http.fault.v3.FaultAbort`.
        public enum AbortSource: Sendable, Equatable {
            /// `http_status`, 200...599.
            case http(UInt32)
            /// `grpc_status`: a gRPC request gets it in a trailers-only response.
            case grpc(UInt32)
            /// `header_abort`: `x-envoy-fault-abort-request` / `x-envoy-fault-abort-grpc-request`.
            case header
        }

        /// `envoy.extensions.filters.common.fault.v3.FaultRateLimit` (the response body's pace).
        public enum RateLimitSource: Sendable, Equatable {
            /// `fixed_limit.limit_kbps`: KiB per second, at least 1.
            case fixed(kibPerSecond: UInt64)
            /// `header_limit`: the request's `x-envoy-fault-throughput-response` (KiB/s).
            case header
        }

        /// Runtime keys that override the configured values (`*_runtime` fields; an empty field
        /// means Envoy's default key).
        public struct RuntimeKeys: Sendable, Equatable {
            public var delayPercent = "fault.http.delay.fixed_delay_percent"
            public var abortPercent = "fault.http.abort.abort_percent"
            public var delayDuration = "fault.http.delay.fixed_duration_ms"
            public var abortHTTPStatus = "fault.http.abort.http_status"
            public var abortGRPCStatus = "fault.http.abort.grpc_status"
            public var maxActiveFaults = "fault.http.max_active_faults"
            public var responseRateLimitPercent = "fault.http.rate_limit.response_percent"
            public init() {}
        }

        public var delay: Injection<DelaySource>?
        public var abort: Injection<AbortSource>?
        /// Faults only for requests routed to this cluster (nil: any).
        public var upstreamCluster: String?
        /// Faults only for requests matching all of these.
        public var headers: [HeaderMatcher] = []
        /// Faults only for requests whose `x-envoy-downstream-service-node` is one of these (empty: any).
        public var downstreamNodes: Set<String> = []
        /// At most this many streams with an active fault at once (nil: unlimited).
        public var maxActiveFaults: UInt32?
        public var responseRateLimit: Injection<RateLimitSource>?
        public var runtimeKeys = RuntimeKeys()
        /// No `fault.<downstream cluster>.*` stats.
        public var disableDownstreamClusterStats = false

        public init() {}

        static func decode(_ r: ObjectReader) -> Kind? {
            defer { r.finish() }
            let errors = r.diagnostics.errors.count
            var config = FaultConfig()
            config.delay = r.object("delay", "envoy.extensions.filters.common.fault.v3.FaultDelay").flatMap(decodeDelay)
            config.abort = r.object("abort", "envoy.extensions.filters.http.fault.v3.FaultAbort").flatMap(decodeAbort)
            config.responseRateLimit = r.object("response_rate_limit", "envoy.extensions.filters.common.fault.v3.FaultRateLimit")
                .flatMap(decodeRateLimit)
            if let cluster = r.string("upstream_cluster"), !cluster.isEmpty { config.upstreamCluster = cluster }
            config.headers = r.objects("headers", "envoy.config.route.v3.HeaderMatcher").compactMap(HeaderMatcher.decode)
            config.downstreamNodes = Set(r.strings("downstream_nodes").map(\.value))
            config.maxActiveFaults = r.uint32("max_active_faults")
            config.disableDownstreamClusterStats = r.bool("disable_downstream_cluster_stats") ?? false
            func key(_ field: String, _ value: inout String) {
                if let text = r.string(field), !text.isEmpty { value = text }
            }
            key("delay_percent_runtime", &config.runtimeKeys.delayPercent)
            key("abort_percent_runtime", &config.runtimeKeys.abortPercent)
            key("delay_duration_runtime", &config.runtimeKeys.delayDuration)
            key("abort_http_status_runtime", &config.runtimeKeys.abortHTTPStatus)
            key("abort_grpc_status_runtime", &config.runtimeKeys.abortGRPCStatus)
            key("max_active_faults_runtime", &config.runtimeKeys.maxActiveFaults)
            key("response_rate_limit_percent_runtime", &config.runtimeKeys.responseRateLimitPercent)
            return r.diagnostics.errors.count == errors ? .fault(config) : nil
        }

        static func decodeDelay(_ r: ObjectReader) -> Injection<DelaySource>? {
            defer { r.finish() }
            let percentage = r.fractionalPercent("percentage") ?? .none
            switch r.oneOf(["fixed_delay", "header_delay"], required: true, what: "delay kind") {
            case "fixed_delay":
                guard let duration = r.duration("fixed_delay", positive: true, fix: "use a positive delay such as \"0.5s\"")
                else { return nil }
                // Whole milliseconds, as Envoy's PROTOBUF_GET_MS_REQUIRED (10^15 attoseconds each).
                let (seconds, attoseconds) = duration.components
                let milliseconds = UInt64(seconds) * 1000 + UInt64(attoseconds / 1_000_000_000_000_000)
                return Injection(source: .fixed(milliseconds: milliseconds), percentage: percentage)
            case "header_delay":
                r.object("header_delay", "envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay")?.finish()
                return Injection(source: .header, percentage: percentage)
            default:
                return nil
            }
        }

        static func decodeAbort(_ r: ObjectReader) -> Injection<AbortSource>? {
            defer { r.finish() }
            let percentage = r.fractionalPercent("percentage") ?? .none
            switch r.oneOf(["http_status", "grpc_status", "header_abort"], required: true, what: "abort status") {
            case "http_status":
                guard let status = r.uint32("http_status", in: 200...599, fix: "use an HTTP status from 200 to 599, e.g. 503")
                else { return nil }
                return Injection(source: .http(status), percentage: percentage)
            case "grpc_status":
                guard let status = r.uint32("grpc_status") else { return nil }
                return Injection(source: .grpc(status), percentage: percentage)
            case "header_abort":
                r.object("header_abort", "envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort")?.finish()
                return Injection(source: .header, percentage: percentage)
            default:
                return nil
            }
        }

        static func decodeRateLimit(_ r: ObjectReader) -> Injection<RateLimitSource>? {
            defer { r.finish() }
            let percentage = r.fractionalPercent("percentage") ?? .none
            switch r.oneOf(["fixed_limit", "header_limit"], required: true, what: "rate limit kind") {
            case "fixed_limit":
                guard let fixed = r.object("fixed_limit", "envoy.extensions.filters.common.fault.v3.FaultRateLimit.FixedLimit")
                else { return nil }
                defer { fixed.finish() }
                guard let kbps = fixed.integer("limit_kbps", in: 1...Int64.max, fix: "use at least 1 (KiB per second)") else {
                    if !fixed.has("limit_kbps") {
                        fixed.diagnostics.error(fixed.node.location, fixed.join("limit_kbps"), "required field is missing",
                                                fix: "add `limit_kbps: 64` (KiB per second)")
                    }
                    return nil
                }
                return Injection(source: .fixed(kibPerSecond: UInt64(kbps)), percentage: percentage)
            case "header_limit":
                r.object("header_limit", "envoy.extensions.filters.common.fault.v3.FaultRateLimit.HeaderLimit")?.finish()
                return Injection(source: .header, percentage: percentage)
            default:
                return nil
            }
        }
    }
}
