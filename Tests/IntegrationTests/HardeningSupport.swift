import FerryTestKit
import Testing

/// Shared by the hardening tests: a proxy in front of an upstream that records every request
/// head it receives, and the check that a refused message (and a request smuggled after it)
/// never reaches that upstream.
enum Hardening {
    /// Pipelined after every refused message; it must not reach the upstream either.
    static let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

    /// A proxy whose only route forwards everything to a scripted upstream answering 200
    /// "upstream"; the access log records `%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%`.
    static func withRecordingUpstream(
        hcmExtra: String = "", _ body: (ProxyHarness, ScriptedUpstream, AccessLogFile) async throws -> Void
    ) async throws {
        try await ScriptedUpstream.with({ _ in
            .bytes("HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nupstream", close: false)
        }) { upstream in
            try await AccessLogFile.with { log in
                try await ProxyHarness.with(yaml: { _ in
                    TestConfig.bootstrap(
                        routes: Support.forward("{prefix: \"/\"}", to: "recorder"),
                        clusters: [("recorder", [upstream.port])],
                        hcmExtra: log.yaml() + hcmExtra)
                }) { proxy, _ in
                    try await body(proxy, upstream, log)
                }
            }
        }
    }

    /// Request lines of the heads the upstream received.
    static func requestLines(_ upstream: ScriptedUpstream) -> [String] {
        upstream.requestHeads.map { $0.components(separatedBy: "\r\n")[0] }
    }

    /// Sends `message` and then `smuggled` in one write and checks the refusal: exactly one
    /// response, with `status`, `connection: close`, and the connection closed after it; the
    /// access log's first line starts with "`status` `flags` ". Then a control request on a
    /// fresh connection must be the only request the upstream ever saw, which also proves that
    /// the recording works.
    static func expectRefused(
        _ message: String, status: Int, flags: String = "DPE", proxy: ProxyHarness, upstream: ScriptedUpstream,
        log: AccessLogFile, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send(message + smuggled)
            let closed = await connection.waitForClose()
            #expect(closed, "the connection stayed open: \(connection.text)", sourceLocation: sourceLocation)
            let responses = WireResponse.parseAll(connection.received, closed: true)
            #expect(responses.map(\.status) == [status], "\(connection.text)", sourceLocation: sourceLocation)
            #expect(responses.first?.header("connection") == "close", sourceLocation: sourceLocation)
        }
        try await expectOnlyControlReachesUpstream(proxy: proxy, upstream: upstream, sourceLocation: sourceLocation)
        let lines = await log.waitForLines(2)
        #expect(lines.first?.hasPrefix("\(status) \(flags) ") == true, "\(lines)", sourceLocation: sourceLocation)
    }

    /// A control request on a fresh connection gets the upstream's 200, and it is the only
    /// request the upstream has seen.
    static func expectOnlyControlReachesUpstream(
        proxy: ProxyHarness, upstream: ScriptedUpstream, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /control HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = await connection.responses(1).first
            #expect(response?.status == 200, sourceLocation: sourceLocation)
            #expect(response?.bodyText == "upstream", sourceLocation: sourceLocation)
        }
        #expect(requestLines(upstream) == ["GET /control HTTP/1.1"], sourceLocation: sourceLocation)
    }
}

/// A malformed message and what the proxy must answer, for parameterized tests.
struct Refused: Sendable, CustomTestStringConvertible {
    var name: String
    var message: String
    var status: Int = 400

    var testDescription: String { name }
}
