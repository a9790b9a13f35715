@testable import FerryConfig
import Testing

/// The upstream codec of a cluster: `typed_extension_protocol_options` HttpProtocolOptions, the
/// deprecated `http2_protocol_options`, Envoy's HTTP/2 defaults and bounds, and gRPC health checks.
@Suite("Upstream HTTP protocol config")
struct UpstreamHTTPProtocolConfigTests {
    static func options(_ body: String) -> String {
        Fixture.backendCluster + """

              typed_extension_protocol_options:
                envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                  "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                  \(body)
            """
    }

    static func cluster(_ clusters: String) -> Cluster? { Fixture.load(Fixture.bootstrap(clusters: clusters))?.clusters.first }

    @Test("HTTP/1.1 by default; explicit http2_protocol_options selects HTTP/2 with Envoy's defaults")
    func defaults() throws {
        #expect(try #require(Self.cluster(Fixture.backendCluster)).upstreamProtocol.selection == .http1)
        let cluster = try #require(Self.cluster(Self.options("explicit_http_config: {http2_protocol_options: {}}")))
        #expect(cluster.upstreamProtocol.selection == .http2)
        let h2 = cluster.upstreamProtocol.http2
        #expect(h2.maxConcurrentStreams == 2_147_483_647 && h2.initialStreamWindowSize == 268_435_456)
        #expect(h2.initialConnectionWindowSize == 268_435_456 && h2.hpackTableSize == 4096 && h2.keepalive == nil)
    }

    @Test("HTTP/2 fields, keepalive, common options and use_downstream_protocol_config are read")
    func fieldsRead() throws {
        let cluster = try #require(Self.cluster(Self.options("""
            common_http_protocol_options: {idle_timeout: 7s, max_requests_per_connection: 9}
                  explicit_http_config:
                    http2_protocol_options: {max_concurrent_streams: 5, initial_stream_window_size: 65535, \
            initial_connection_window_size: 1048576, hpack_table_size: 0, \
            connection_keepalive: {interval: 10s, timeout: 2s}, max_outbound_control_frames: 50}
            """)))
        let h2 = cluster.upstreamProtocol.http2
        #expect(h2.maxConcurrentStreams == 5 && h2.initialStreamWindowSize == 65535)
        #expect(h2.initialConnectionWindowSize == 1_048_576 && h2.hpackTableSize == 0)
        #expect(h2.keepalive == .init(interval: .seconds(10), timeout: .seconds(2)) && h2.maxOutboundControlFrames == 50)
        #expect(cluster.idleTimeout == .seconds(7) && cluster.maxRequestsPerConnection == 9)
        let downstream = try #require(Self.cluster(Self.options("use_downstream_protocol_config: {http2_protocol_options: {max_concurrent_streams: 3}}")))
        #expect(downstream.upstreamProtocol.selection == .downstream && downstream.upstreamProtocol.http2.maxConcurrentStreams == 3)
        let legacy = try #require(Self.cluster(Fixture.backendCluster + "\n  http2_protocol_options: {hpack_table_size: 100}"))
        #expect(legacy.upstreamProtocol.selection == .http2 && legacy.upstreamProtocol.http2.hpackTableSize == 100)
    }

    @Test("connection_keepalive.interval_jitter: Envoy's 15% by default, else the given percentage of the interval")
    func keepaliveJitter() throws {
        let given = try #require(Self.cluster(Self.options(
            "explicit_http_config: {http2_protocol_options: {connection_keepalive: {interval: 10s, timeout: 1s, interval_jitter: {value: 5}}}}")))
        let keepalive = try #require(given.upstreamProtocol.http2.keepalive)
        #expect(keepalive.jitterPercent == 5)
        let intervals = (0..<200).compactMap { _ in keepalive.nextInterval() }
        #expect(intervals.count == 200)
        #expect(intervals.allSatisfy { $0 >= .seconds(10) && $0 <= .milliseconds(10_500) })
        #expect(Set(intervals).count > 1)
        let plain = try #require(Self.cluster(Self.options(
            "explicit_http_config: {http2_protocol_options: {connection_keepalive: {interval: 10s, timeout: 1s}}}")))
        #expect(plain.upstreamProtocol.http2.keepalive?.jitterPercent == 15)
        let none = Http2ProtocolOptions.Keepalive(interval: .seconds(10), timeout: .seconds(1), jitterPercent: 0)
        #expect(none.nextInterval() == .seconds(10))
    }

    @Test("connection_idle_interval: a cluster's keepalive may PING only ahead of streams on idle connections; a listener refuses it")
    func idleInterval() throws {
        let idleOnly = try #require(Self.cluster(Self.options(
            "explicit_http_config: {http2_protocol_options: {connection_keepalive: {timeout: 1s, connection_idle_interval: 30s}}}")))
        let keepalive = try #require(idleOnly.upstreamProtocol.http2.keepalive)
        #expect(keepalive.interval == nil && keepalive.idleInterval == .seconds(30) && keepalive.nextInterval() == nil)
        let zero = try #require(Self.cluster(Self.options(
            "explicit_http_config: {http2_protocol_options: {connection_keepalive: {interval: 0s, timeout: 1s, connection_idle_interval: 5s}}}")))
        #expect(zero.upstreamProtocol.http2.keepalive?.interval == nil)
        // Neither: no PING would ever go.
        let silent = Fixture.errors(Fixture.bootstrap(clusters: Self.options(
            "explicit_http_config: {http2_protocol_options: {connection_keepalive: {timeout: 1s}}}")))
        #expect(silent.count == 1 && silent.first?.message.contains("sends no PING") == true, "\(silent)")
        let downstream = Fixture.errors(Fixture.bootstrap(hcm: "http2_protocol_options: {connection_keepalive: {interval: 10s, timeout: 1s, connection_idle_interval: 5s}}"))
        #expect(downstream.count == 1 && downstream.first?.path.hasSuffix("connection_keepalive.connection_idle_interval") == true, "\(downstream)")
        #expect(downstream.first?.message.contains("no effect here") == true && downstream.first?.location.line ?? 0 > 0)
    }

    @Test("out-of-range values, unsupported HTTP/2 fields and auto_config without TLS are located errors", arguments: [
        ("explicit_http_config: {http2_protocol_options: {max_concurrent_streams: 0}}", "max_concurrent_streams"),
        ("explicit_http_config: {http2_protocol_options: {initial_stream_window_size: 100}}", "initial_stream_window_size"),
        ("explicit_http_config: {http2_protocol_options: {allow_metadata: true}}", "allow_metadata"),
        ("explicit_http_config: {http2_protocol_options: {connection_keepalive: {interval: 1s, timeout: 0s}}}", "connection_keepalive.timeout"),
        ("explicit_http_config: {http2_protocol_options: {connection_keepalive: {interval: 1s, timeout: 1s, interval_jitter: {value: 150}}}}",
         "interval_jitter.value"),
        ("explicit_http_config: {http3_protocol_options: {}}", "http3_protocol_options is not supported yet"),
        ("auto_config: {}", "needs a TLS transport_socket"),
    ])
    func refused(body: String, expected: String) throws {
        let errors = Fixture.errors(Fixture.bootstrap(clusters: Self.options(body)))
        #expect(errors.count == 1, "\(errors)")
        let error = try #require(errors.first)
        #expect("\(error.path) \(error.message)".contains(expected), "\(error)")
        #expect(error.location.line > 0 && error.fix?.isEmpty == false)
    }

    @Test("auto_config with an UpstreamTlsContext selects the codec by ALPN; its http2_protocol_options apply to HTTP/2 connections")
    func autoConfig() throws {
        let tls = """

              transport_socket:
                name: envoy.transport_sockets.tls
                typed_config: {"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext}
            """
        let cluster = try #require(Self.cluster(Self.options("auto_config: {http2_protocol_options: {max_concurrent_streams: 7}}") + tls))
        #expect(cluster.upstreamProtocol.selection == .auto && cluster.upstreamProtocol.mayUseHTTP2)
        #expect(cluster.upstreamProtocol.http2.maxConcurrentStreams == 7)
        let errors = Fixture.errors(Fixture.bootstrap(clusters: Self.options("auto_config: {http3_protocol_options: {}}") + tls))
        #expect(errors.count == 1 && errors.first?.message.contains("http3_protocol_options is not supported yet") == true, "\(errors)")
    }

    @Test("allow_connect on a cluster: upgrades go up as extended CONNECT")
    func allowConnect() throws {
        let cluster = try #require(Self.cluster(Self.options("explicit_http_config: {http2_protocol_options: {allow_connect: true}}")))
        #expect(cluster.upstreamProtocol.http2.allowConnect)
    }

    @Test("stream errors on invalid messaging are a listener's choice; a cluster's connections are not configurable")
    func streamErrorOnInvalidNotUpstream() {
        let errors = Fixture.errors(Fixture.bootstrap(clusters: Self.options(
            "explicit_http_config: {http2_protocol_options: {override_stream_error_on_invalid_http_message: true}}")))
        #expect(errors.map(\.message) == ["Http2ProtocolOptions.override_stream_error_on_invalid_http_message is not supported yet by Ferry"],
                "\(errors)")
    }

    @Test("the deprecated field next to typed options is an error (Envoy would ignore it)")
    func legacyNextToTyped() {
        let errors = Fixture.errors(Fixture.bootstrap(clusters: Self.options("explicit_http_config: {http_protocol_options: {}}")
            + "\n  http2_protocol_options: {}"))
        #expect(errors.map(\.message) == ["http2_protocol_options has no effect next to typed_extension_protocol_options (Envoy ignores it)"])
    }

    @Test("grpc_health_check is read and needs an HTTP/2 cluster")
    func grpcHealthCheck() throws {
        let check = "\n  health_checks:\n  - {timeout: 1s, interval: 5s, unhealthy_threshold: 3, healthy_threshold: 2, "
            + "grpc_health_check: {service_name: svc, authority: a.example, initial_metadata: [{header: {key: x-k, value: v}}]}}"
        let cluster = try #require(Self.cluster(Self.options("explicit_http_config: {http2_protocol_options: {}}") + check))
        guard case .grpc(let grpc)? = cluster.activeHealthChecking.checks.first?.kind else { Issue.record("not gRPC"); return }
        #expect(grpc.serviceName == "svc" && grpc.authority == "a.example")
        #expect(grpc.initialMetadata.map(\.name) == ["x-k"] && grpc.initialMetadata.map(\.value) == ["v"])
        let errors = Fixture.errors(Fixture.bootstrap(clusters: Fixture.backendCluster + check))
        #expect(errors.map(\.message) == ["gRPC health checking needs a cluster that speaks HTTP/2"])
    }
}
