import FerryTestKit
import Foundation
import Testing

/// The `grpc_stats` and `grpc_web` filters through the real proxy, with curl as the client and
/// an HTTP/1.1 upstream that answers with gRPC frames and chunked trailers. Where the upstream's
/// trailers do not matter (trailers-only answers, local replies) the real Envoy 1.40 runs the
/// same config and must agree.
@Suite("gRPC filters", .serialized)
struct GRPCFilterTests {
    static let statsFilter = """
        - name: envoy.filters.http.grpc_stats
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig
            stats_for_all_methods: true
            enable_upstream_stats: true
        """
    static let webFilter = """
        - name: envoy.filters.http.grpc_web
          typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb}
        """

    @Test("grpc_stats names per-method counters as Envoy does, for trailers-only answers")
    func statsLikeEnvoy() async throws {
        try await GRPCSupport.with({ call in
            .trailersOnly(status: call.path.hasSuffix("Fail") ? 14 : 0)
        }, envoy: true, yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: Self.statsFilter) }) { proxies, _ in
            var seen: [[String: String]] = []
            for proxy in proxies {
                _ = try await proxy.call("/pkg.Svc/Do", messages: [[1], [2, 3]])
                _ = try await proxy.call("/pkg.Svc/Fail")
                _ = try await proxy.call("/not-grpc-path")
                _ = try await proxy.call("/pkg.Svc/Do", contentType: "application/json")
                seen.append(try await proxy.stats("cluster.grpc.grpc"))
            }
            let ferry = try #require(seen.last)
            #expect(ferry["cluster.grpc.grpc.pkg.Svc.Do.0"] == "1")
            #expect(ferry["cluster.grpc.grpc.pkg.Svc.Do.success"] == "1")
            #expect(ferry["cluster.grpc.grpc.pkg.Svc.Do.total"] == "1")
            #expect(ferry["cluster.grpc.grpc.pkg.Svc.Do.request_message_count"] == "2")
            #expect(ferry["cluster.grpc.grpc.pkg.Svc.Fail.14"] == "1")
            #expect(ferry["cluster.grpc.grpc.pkg.Svc.Fail.failure"] == "1")
            if seen.count == 2 { #expect(seen[0] == ferry) }
        }
    }

    @Test("grpc_stats counts response messages split across chunks and the status from trailers")
    func statsFromStream() async throws {
        try await GRPCSupport.with({ _ in
            .messages([[1, 2, 3], [], Array(repeating: 9, count: 40)], status: 0, split: 3)
        }, yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: Self.statsFilter) }) { proxies, _ in
            let proxy = proxies[0]
            let response = try await proxy.call("/helloworld.Greeter/SayHello", messages: [[1], [2], [3]])
            #expect(response.frames.count == 3)
            let stats = try await proxy.stats("cluster.grpc.grpc")
            #expect(stats["cluster.grpc.grpc.helloworld.Greeter.SayHello.request_message_count"] == "3")
            #expect(stats["cluster.grpc.grpc.helloworld.Greeter.SayHello.response_message_count"] == "3")
            #expect(stats["cluster.grpc.grpc.helloworld.Greeter.SayHello.0"] == "1")
            #expect(stats["cluster.grpc.grpc.helloworld.Greeter.SayHello.success"] == "1")
            #expect(stats["cluster.grpc.grpc.helloworld.Greeter.SayHello.total"] == "1")
            let histograms = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/stats?filter=upstream_rq_time").body
            #expect(histograms.contains("cluster.grpc.grpc.helloworld.Greeter.SayHello.upstream_rq_time: P0("), "\(histograms)")
        }
    }

    @Test("grpc_stats without stats_for_all_methods counts calls outside its allowlist without names")
    func statsAllowlist() async throws {
        let filter = """
            - name: envoy.filters.http.grpc_stats
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig
                individual_method_stats_allowlist: {services: [{name: pkg.Svc, method_names: [Listed]}]}
            """
        try await GRPCSupport.with({ _ in .trailersOnly(status: 0) }, envoy: true,
                                   yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: filter) }) { proxies, _ in
            for proxy in proxies {
                _ = try await proxy.call("/pkg.Svc/Listed")
                _ = try await proxy.call("/pkg.Svc/Other")
                let stats = try await proxy.stats("cluster.grpc.grpc")
                #expect(stats["cluster.grpc.grpc.pkg.Svc.Listed.total"] == "1", "\(proxy.name)")
                #expect(stats["cluster.grpc.grpc.total"] == "1", "\(proxy.name)")
                #expect(stats["cluster.grpc.grpc.pkg.Svc.Other.total"] == nil, "\(proxy.name)")
                let histograms = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/stats?filter=cluster.grpc.grpc.").body
                #expect(!histograms.contains("upstream_rq_time"), "no upstream stats unless enabled: \(proxy.name)")
            }
        }
    }

    @Test("grpc_web binary: the upstream sees application/grpc with te: trailers; trailers come back as a 0x80 frame")
    func webBinary() async throws {
        try await GRPCSupport.with({ _ in
            .messages([[7, 7], [8]], status: 0, message: "fine", split: 4)
        }, yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: Self.webFilter + "\n" + Self.statsFilter) }) { proxies, upstream in
            let proxy = proxies[0]
            let response = try await proxy.call("/pkg.Svc/Do", messages: [[1, 2, 3]], contentType: "application/grpc-web+proto")
            #expect(response.status == 200)
            #expect(response.header("content-type") == "application/grpc-web+proto")
            let frames = response.frames
            #expect(frames.count == 3)
            #expect(frames.prefix(2).map(\.payload) == [[7, 7], [8]])
            #expect(frames.last?.flags == 0x80)
            #expect(String(decoding: frames.last?.payload ?? [], as: UTF8.self) == "grpc-status:0\r\ngrpc-message:fine\r\n")
            let call = try #require(upstream.calls.last)
            #expect(call.header("content-type") == "application/grpc")
            #expect(call.header("te") == "trailers")
            #expect(call.header("grpc-accept-encoding") == "identity")
            #expect(call.header("content-length") == nil)
            #expect(call.frames == [GRPCFrame(payload: [1, 2, 3])])
            let stats = try await proxy.stats("cluster.grpc.grpc")
            #expect(stats["cluster.grpc.grpc-web.pkg.Svc.Do.success"] == "1")
            #expect(stats["cluster.grpc.grpc.pkg.Svc.Do.response_message_count"] == "2")
        }
    }

    @Test("grpc_web text: a base64 request split anywhere is decoded; each response frame comes back base64 on its own")
    func webText() async throws {
        try await GRPCSupport.with({ _ in
            .messages([[1, 2, 3, 4], Array(repeating: 5, count: 100)], status: 0, split: 7)
        }, yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: Self.webFilter) }) { proxies, upstream in
            let proxy = proxies[0]
            let request = Array(Data(GRPCFrame(payload: [9, 8, 7]).bytes + GRPCFrame(payload: [6]).bytes).base64EncodedString().utf8)
            let response = try await proxy.call("/pkg.Svc/Do", body: request, contentType: "application/grpc-web-text",
                                                headers: ["accept": "application/grpc-web-text"])
            #expect(response.status == 200)
            #expect(response.header("content-type") == "application/grpc-web-text+proto")
            #expect(upstream.calls.last?.frames == [GRPCFrame(payload: [9, 8, 7]), GRPCFrame(payload: [6])])
            // Three pieces, each padded on its own: two messages and the trailer frame.
            let text = String(decoding: response.body, as: UTF8.self)
            var decoded: [UInt8] = []
            var rest = Substring(text)
            while !rest.isEmpty {
                let piece = rest.prefix { $0 != "=" } + rest.drop { $0 != "=" }.prefix { $0 == "=" }
                rest = rest.dropFirst(piece.count)
                decoded += try #require(Data(base64Encoded: String(piece)))
            }
            let frames = GRPCFrame.parse(decoded)
            #expect(frames.map(\.payload).prefix(2) == [[1, 2, 3, 4], Array(repeating: 5, count: 100)])
            #expect(frames.last?.flags == 0x80)
        }
    }

    @Test("grpc_web and grpc_stats over a streamed answer with trailers: the same bytes and stats as Envoy, binary and text")
    func webStreamLikeEnvoy() async throws {
        let filters = Self.webFilter + "\n" + Self.statsFilter
        try await GRPCSupport.with({ _ in
            .messages([[1, 2, 3, 4], Array(repeating: 5, count: 70), []], status: 3, message: "bad argument", split: 6)
        }, envoy: true, yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: filters) },
           envoyYAML: { GRPCSupport.bootstrap(port: $0, httpFilters: filters, clusterExtra: GRPCSupport.envoyTrailers) }) {
            proxies, _ in
            var bodies: [[[UInt8]]] = []
            var stats: [[String: String]] = []
            for proxy in proxies {
                let text = Array(Data(GRPCFrame(payload: [9, 9]).bytes).base64EncodedString().utf8)
                let binary = try await proxy.call("/pkg.Svc/Do", contentType: "application/grpc-web+proto")
                let encoded = try await proxy.call("/pkg.Svc/Do", body: text, contentType: "application/grpc-web-text",
                                                   headers: ["accept": "application/grpc-web-text"])
                #expect(binary.header("content-type") == "application/grpc-web+proto", "\(proxy.name)")
                #expect(encoded.header("content-type") == "application/grpc-web-text+proto", "\(proxy.name)")
                #expect(binary.frames.last.map { String(decoding: $0.payload, as: UTF8.self) }
                        == "grpc-status:3\r\ngrpc-message:bad argument\r\n", "\(proxy.name)")
                bodies.append([binary.body, encoded.body])
                stats.append(try await proxy.stats("cluster.grpc.grpc"))
            }
            #expect(bodies.first == bodies.last, "Envoy and Ferry send the same gRPC-Web bytes")
            #expect(stats.first == stats.last, "Envoy and Ferry count the same: \(stats)")
            #expect(stats.last?["cluster.grpc.grpc.pkg.Svc.Do.response_message_count"] == "6")
            #expect(stats.last?["cluster.grpc.grpc-web.pkg.Svc.Do.3"] == "2")
        }
    }

    @Test("grpc_web turns bad base64, a plain upstream error and a trailers-only answer into gRPC-Web answers, as Envoy")
    func webErrorsLikeEnvoy() async throws {
        try await GRPCSupport.with({ call in
            if call.path.contains("plain") {
                return .raw("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 10\r\n\r\noverloaded")
            }
            return .trailersOnly(status: 7, message: "denied")
        }, envoy: true, yaml: { GRPCSupport.bootstrap(port: $0, httpFilters: Self.webFilter) }) { proxies, _ in
            var seen: [[String: String]] = []
            for proxy in proxies {
                let bad = try await proxy.call("/pkg.Svc/Do", body: Array("AAA*".utf8), contentType: "application/grpc-web-text")
                #expect(bad.status == 400, "\(proxy.name)")
                #expect(bad.header("grpc-status") == "13", "\(proxy.name)")
                #expect(bad.header("grpc-message") == "Bad gRPC-web request, invalid base64 data.", "\(proxy.name)")
                #expect(bad.header("content-type") == "application/grpc-web+proto", "\(proxy.name)")
                #expect(bad.body.isEmpty, "\(proxy.name)")
                let plain = try await proxy.call("/plain/x", contentType: "application/grpc-web")
                #expect(plain.status == 503, "\(proxy.name)")
                #expect(plain.header("grpc-status") == "14", "\(proxy.name)")
                #expect(plain.header("grpc-message") == "overloaded", "\(proxy.name)")
                #expect(plain.body.isEmpty, "\(proxy.name)")
                let only = try await proxy.call("/pkg.Svc/Do", contentType: "application/grpc-web")
                #expect(only.status == 200, "\(proxy.name)")
                #expect(only.header("grpc-status") == "7", "\(proxy.name)")
                #expect(only.header("grpc-message") == "denied", "\(proxy.name)")
                #expect(only.header("content-type") == "application/grpc-web+proto", "\(proxy.name)")
                seen.append(try await proxy.stats("grpc-web"))
            }
            #expect(seen.last?["cluster.grpc.grpc-web.pkg.Svc.Do.7"] == "1")
            #expect(seen.last?["cluster.grpc.grpc-web.pkg.Svc.Do.failure"] == "1")
            #expect(seen.last?["cluster.grpc.grpc-web.pkg.Svc.Do.total"] == "1")
            #expect(seen.first == seen.last, "Envoy and Ferry count the same gRPC-Web stats")
        }
    }
}
