@testable import FerryConfig
import Testing

/// Typos get "did you mean"; real Envoy fields and filters Ferry lacks get "not supported yet".
@Suite("Unknown and unsupported fields")
struct UnknownFieldTests {
    // MARK: typos

    @Test("a misspelled route action suggests route")
    func rotue() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  rotue: {cluster: backend}
                """)
        let error = Fixture.expectError(
            yaml, at: "rotue", path: "\(Fixture.route(0)).rotue", message: "unknown field \"rotue\"")
        #expect(error?.message.contains("(did you mean \"route\"?)") == true)
        #expect(error?.fix == "rename it to route")
        // The route also has no action now; that is reported too, at the route.
        Fixture.expectError(yaml, at: "match:", path: Fixture.route(0), message: "route action is missing")
    }

    @Test("a misspelled path specifier suggests prefix")
    func prefx() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefx: "/"}
                  route: {cluster: backend}
                """)
        let error = Fixture.expectError(
            yaml, at: "prefx", path: "\(Fixture.route(0)).match.prefx", message: "unknown field \"prefx\"")
        #expect(error?.message.contains("(did you mean \"prefix\"?)") == true)
    }

    @Test("a misspelled cluster field suggests cluster")
    func clsuter() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {clsuter: backend}
                """)
        let error = Fixture.expectError(
            yaml, at: "clsuter", path: "\(Fixture.route(0)).route.clsuter",
            message: "unknown field \"clsuter\"")
        #expect(error?.message.contains("(did you mean \"cluster\"?)") == true)
    }

    @Test("a misspelled top-level field suggests the real one")
    func topLevelTypo() {
        let yaml = """
            admin:
              address: {socket_address: {address: 127.0.0.1, port_value: 9901}}
            static_resource: {}
            """
        let error = Fixture.expectOneError(
            yaml, at: "static_resource", path: "static_resource", message: "unknown field")
        #expect(error?.message.contains("did you mean \"static_resources\"") == true)
    }

    @Test("a name far from every field gets no suggestion but still a fix")
    func noSuggestion() {
        let yaml = Fixture.bootstrap(
            clusters: """
                - name: backend
                  zzzqqq: 1
                """)
        let error = Fixture.expectOneError(
            yaml, at: "zzzqqq", path: "static_resources.clusters[0].zzzqqq",
            message: "unknown field \"zzzqqq\" in Cluster")
        #expect(error?.message.contains("did you mean") == false)
        #expect(error?.fix?.contains("remove it") == true)
    }

    // MARK: real Envoy fields Ferry lacks

    @Test(
        "cluster fields Envoy has but Ferry lacks are not supported yet",
        arguments: [
            "upstream_bind_config: {}", "transport_socket_matches: []",
            "lb_subset_config: {}",
        ])
    func unsupportedClusterField(field: String) {
        let name = String(field.prefix { $0 != ":" })
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  " + field)
        let error = Fixture.expectOneError(
            yaml, at: name + ":", path: "static_resources.clusters[0].\(name)",
            message: "Cluster.\(name) is not supported yet by Ferry")
        #expect(error?.message.contains("unknown") == false)
    }

    @Test("an unimplemented retry_on condition is named as not supported yet; HTTP and gRPC conditions decode")
    func retryPolicy() throws {
        let grpc = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route:
                    cluster: backend
                    retry_policy: {retry_on: "5xx,unavailable,reset-before-request"}
                """)
        Fixture.expectOneError(
            grpc, at: "\"5xx,unavailable,reset-before-request\"", path: "\(Fixture.route(0)).route.retry_policy.retry_on",
            message: "retry_on condition \"reset-before-request\" is not supported yet by Ferry")
        let http = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route:
                    cluster: backend
                    retry_policy:
                      retry_on: "5xx,connect-failure,retriable-status-codes,cancelled,unavailable"
                      num_retries: 3
                      per_try_timeout: 0.5s
                      retriable_status_codes: [409]
                      retry_back_off: {base_interval: 0.01s, max_interval: 0.2s}
                      retry_host_predicate:
                      - name: envoy.retry_host_predicates.previous_hosts
                        typed_config: {"@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate}
                """)
        let bootstrap = try #require(Fixture.load(http))
        let route = try #require(bootstrap.listeners.first?.httpConnectionManager?.routeConfig.virtualHosts.first?.routes.first)
        guard case .route(let action) = route.action, let policy = action.retryPolicy else {
            Issue.record("expected a route action with a retry policy")
            return
        }
        #expect(policy.conditions == [.fiveXX, .connectFailure, .retriableStatusCodes, .grpcCancelled, .grpcUnavailable])
        #expect(policy.numRetries == 3)
        #expect(policy.perTryTimeout == .milliseconds(500))
        #expect(policy.retriableStatusCodes == [409])
        #expect(policy.backOffBase == .milliseconds(10))
        #expect(policy.backOffMax == .milliseconds(200))
        #expect(policy.avoidPreviousHosts)
    }

    @Test("lb_policy CLUSTER_PROVIDED is a known value that is not supported yet")
    func clusterProvided() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  lb_policy: CLUSTER_PROVIDED")
        Fixture.expectOneError(
            yaml, at: "CLUSTER_PROVIDED", path: "static_resources.clusters[0].lb_policy",
            message: "lb_policy CLUSTER_PROVIDED is not supported yet by Ferry")
    }

    @Test("codec_type HTTP3 is not supported yet; HTTP2 is")
    func codecHTTP3() {
        Fixture.expectOneError(
            Fixture.bootstrap(hcm: "codec_type: HTTP3"), at: "HTTP3", path: "\(Fixture.hcm).codec_type",
            message: "codec_type HTTP3 is not supported yet by Ferry")
        #expect(Fixture.errors(Fixture.bootstrap(hcm: "codec_type: HTTP2")).isEmpty)
    }

    @Test("http2_protocol_options: what the codec cannot honour is named, values out of range are refused")
    func http2Options() {
        let path = "\(Fixture.hcm).http2_protocol_options"
        Fixture.expectOneError(
            Fixture.bootstrap(hcm: "http2_protocol_options: {allow_metadata: true}"), at: "allow_metadata",
            path: "\(path).allow_metadata", message: "Http2ProtocolOptions.allow_metadata is not supported yet by Ferry")
        Fixture.expectOneError(
            Fixture.bootstrap(hcm: "http2_protocol_options: {max_outbound_frames: 0}"), at: "0}", after: "max_outbound_frames",
            path: "\(path).max_outbound_frames", message: "0 is out of range 1...4294967295")
        Fixture.expectOneError(
            Fixture.bootstrap(hcm: "http2_protocol_options: {max_inbound_window_update_frames_per_data_frame_sent: 0}"), at: "0}",
            after: "max_inbound_window_update",
            path: "\(path).max_inbound_window_update_frames_per_data_frame_sent", message: "0 is out of range 1...4294967295")
        #expect(Fixture.errors(Fixture.bootstrap(hcm: "http2_protocol_options: {allow_connect: true}")).isEmpty)
        #expect(Fixture.load(Fixture.bootstrap(hcm: "http2_protocol_options: {allow_connect: true}"))?
            .listeners.first?.httpConnectionManager?.http2Options.allowConnect == true)
        Fixture.expectOneError(
            Fixture.bootstrap(hcm: "http2_protocol_options: {initial_stream_window_size: 1000}"), at: "1000}",
            path: "\(path).initial_stream_window_size", message: "1000 is out of range 65535...2147483647")
        Fixture.expectOneError(
            Fixture.bootstrap(hcm: "http2_protocol_options: {connection_keepalive: {interval: 10s}}"), at: "{interval: 10s}",
            path: "\(path).connection_keepalive.timeout", message: "KeepaliveSettings needs a timeout")
        #expect(Fixture.errors(Fixture.bootstrap(hcm: """
            http2_protocol_options: {max_concurrent_streams: 100, initial_stream_window_size: 65536, initial_connection_window_size: 1048576,
              hpack_table_size: 0, max_outbound_control_frames: 10, max_consecutive_inbound_frames_with_empty_payload: 3,
              max_outbound_frames: 500, max_inbound_priority_frames_per_stream: 0, max_inbound_window_update_frames_per_data_frame_sent: 2,
              connection_keepalive: {interval: 30s, timeout: 5s}}
            """)).isEmpty)
        let options = Fixture.load(Fixture.bootstrap(hcm: """
            http2_protocol_options: {max_outbound_frames: 500, max_inbound_priority_frames_per_stream: 0,
              max_inbound_window_update_frames_per_data_frame_sent: 2}
            """))?.listeners.first?.httpConnectionManager?.http2Options
        #expect(options?.maxOutboundFrames == 500 && options?.maxInboundPriorityFramesPerStream == 0
                && options?.maxInboundWindowUpdateFramesPerDataFrameSent == 2)
        let defaults = Http2ProtocolOptions()
        #expect(defaults.maxOutboundFrames == 10000 && defaults.maxInboundPriorityFramesPerStream == 100
                && defaults.maxInboundWindowUpdateFramesPerDataFrameSent == 10 && !defaults.streamErrorOnInvalidHTTPMessaging)
    }

    @Test("stream errors on invalid messaging, in Envoy's order: each protocol's override, then the connection manager's field, then HTTP/2's deprecated one")
    func streamErrorOnInvalid() {
        /// (HTTP/1, HTTP/2) for the connection manager fields `hcm`.
        func streamError(_ hcm: String) -> [Bool]? {
            Fixture.load(Fixture.bootstrap(hcm: hcm))?.listeners.first?.httpConnectionManager
                .map { [$0.http1StreamErrorOnInvalidMessage, $0.http2Options.streamErrorOnInvalidHTTPMessaging] }
        }
        #expect(streamError("") == [false, false])
        #expect(streamError("http2_protocol_options: {stream_error_on_invalid_http_messaging: true}") == [false, true])
        #expect(streamError("http2_protocol_options: {override_stream_error_on_invalid_http_message: true}") == [false, true])
        #expect(streamError("""
            http2_protocol_options: {stream_error_on_invalid_http_messaging: true, override_stream_error_on_invalid_http_message: false}
            """) == [false, false])
        #expect(streamError("stream_error_on_invalid_http_message: true") == [true, true])
        #expect(streamError("""
            stream_error_on_invalid_http_message: false
            http2_protocol_options: {stream_error_on_invalid_http_messaging: true}
            """) == [false, false])
        #expect(streamError("""
            stream_error_on_invalid_http_message: true
            http_protocol_options: {override_stream_error_on_invalid_http_message: false}
            http2_protocol_options: {override_stream_error_on_invalid_http_message: false}
            """) == [false, false])
        #expect(streamError("http_protocol_options: {override_stream_error_on_invalid_http_message: true}") == [true, false])
    }

    // MARK: HTTP filters

    @Test("an Envoy HTTP filter Ferry lacks is not supported yet")
    func corsFilter() {
        let yaml = Fixture.bootstrap(
            httpFilters: """
                - name: envoy.filters.http.cors
                  typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}
                """ + "\n" + Fixture.router)
        let error = Fixture.expectOneError(
            yaml, at: "name: envoy.filters.http.cors", path: "\(Fixture.hcm).http_filters[0].name",
            message: "HTTP filter envoy.filters.http.cors is not supported yet by Ferry")
        #expect(error?.fix?.contains("is_optional: true") == true)
    }

    @Test("a filter is recognised by its type URL whatever its name")
    func filterKnownByType() {
        let yaml = Fixture.bootstrap(
            httpFilters: """
                - name: my-cors
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
                    allow_origin: x
                """ + "\n" + Fixture.router)
        Fixture.expectOneError(
            yaml, at: "name: my-cors", path: "\(Fixture.hcm).http_filters[0].name",
            message: "HTTP filter my-cors is not supported yet by Ferry")
    }

    @Test("an unknown HTTP filter name gets a suggestion")
    func unknownFilterName() {
        let yaml = Fixture.bootstrap(httpFilters: "- name: envoy.filters.http.routr")
        let error = Fixture.expectOneError(
            yaml, at: "name: envoy.filters.http.routr", path: "\(Fixture.hcm).http_filters[0].name",
            message: "unknown HTTP filter \"envoy.filters.http.routr\"")
        #expect(error?.message.contains("(did you mean envoy.filters.http.router?)") == true)
    }

    @Test("an unknown filter marked is_optional is skipped with a warning, not an error")
    func optionalFilterWarns() throws {
        let yaml = Fixture.bootstrap(
            httpFilters: """
                - name: envoy.filters.http.cors
                  is_optional: true
                  typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors}
                """ + "\n" + Fixture.router)
        guard case .success(let loaded) = Fixture.result(yaml) else {
            Issue.record("an optional filter must not fail the load: \(Fixture.errors(yaml))")
            return
        }
        let warning = try #require(loaded.warnings.only)
        #expect(warning.severity == .warning)
        #expect(warning.location == Fixture.location(of: "name: envoy.filters.http.cors", in: yaml))
        #expect(warning.path == "\(Fixture.hcm).http_filters[0].name")
        #expect(warning.message.contains("is skipped (is_optional: true)"))
        let chain = loaded.bootstrap.listeners.first?.httpConnectionManager?.httpFilters.map(\.name)
        #expect(chain == ["envoy.filters.http.router"])
    }

    @Test("a router that is not the last filter is an error")
    func routerNotLast() {
        let yaml = Fixture.bootstrap(
            httpFilters: Fixture.router + """

                - name: envoy.filters.http.cors
                  is_optional: true
                """)
        Fixture.expectOneError(
            yaml, at: "name: envoy.filters.http.router", path: "\(Fixture.hcm).http_filters[0].name",
            message: "the router must be the last HTTP filter")
    }

    @Test("an empty http_filters list gets Envoy's implicit router")
    func implicitRouter() throws {
        let yaml = Fixture.bootstrap(httpFilters: "  []")
        let filters = try #require(Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.httpFilters)
        #expect(filters.map(\.name) == ["envoy.filters.http.router"])
    }

    @Test("router options are read from its typed_config")
    func routerOptions() throws {
        let yaml = Fixture.bootstrap(
            httpFilters: """
                - name: envoy.filters.http.router
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
                    suppress_envoy_headers: true
                """)
        let filter = try #require(Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.httpFilters.only)
        guard case .router(let config) = filter.kind else {
            Issue.record("expected the router, got \(filter.kind)")
            return
        }
        #expect(config.suppressEnvoyHeaders)
    }
}
