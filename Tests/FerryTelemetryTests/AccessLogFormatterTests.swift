import Foundation
@testable import FerryConfig
@testable import FerryTelemetry
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request as the formatter sees it; every field settable, nothing set by default.
final class FakeStreamInfo: StreamInfo {
    var startTimeNanos: Int64 = 0
    var requestHeaders: [String: String] = [:]
    var responseHeaders: [String: String] = [:]
    var responseTrailers: [String: String] = [:]
    var protocolName: String?
    var responseCode: Int?
    var responseCodeDetails: String?
    var responseFlags: ResponseFlags = []
    var bytesReceived: UInt64 = 0
    var bytesSent: UInt64 = 0
    var requestHeadersBytes: UInt64 = 0
    var responseHeadersBytes: UInt64 = 0
    var totalDuration: Duration?
    var requestCompleteDuration: Duration?
    var firstUpstreamByteDuration: Duration?
    var firstDownstreamTxByteDuration: Duration?
    var lastDownstreamTxByteDuration: Duration?
    var lastUpstreamTxByteDuration: Duration?
    var upstreamHost: String?
    var upstreamCluster: String?
    var upstreamLocalAddress: String?
    var upstreamTransportFailureReason: String?
    var upstreamProtocol: String?
    var upstreamConnectionID: UInt64?
    var downstreamRemoteAddress: String?
    var downstreamDirectRemoteAddress: String?
    var downstreamLocalAddress: String?
    var routeName: String?
    var localReplyBody: String?
    var upstreamRequestAttemptCount = 0
    var connectionID: UInt64 = 0
    var streamID: String?
    var requestedServerName: String?

    func requestHeader(_ name: String) -> String? { requestHeaders[name] }
    func responseHeader(_ name: String) -> String? { responseHeaders[name] }
    func responseTrailer(_ name: String) -> String? { responseTrailers[name] }

    /// The proxied request Envoy 1.40 logged as the `envoyLine` below (captured from a real run).
    static func proxiedCurl() -> FakeStreamInfo {
        let info = FakeStreamInfo()
        info.startTimeNanos = 1_795_407_965_120_245_000
        info.requestHeaders = [":method": "GET", ":path": "/proxy?q=1", ":authority": "127.0.0.1:28080",
                               "user-agent": "curl/7.88.1", "x-request-id": "578c56f6-7f1d-4dd5-9e7d-fef367638421"]
        info.responseHeaders = [":status": "201", "x-envoy-upstream-service-time": "0", "content-type": "text/plain"]
        info.protocolName = "HTTP/1.1"
        info.responseCode = 201
        info.bytesSent = 13
        info.totalDuration = .microseconds(1_700)
        info.upstreamHost = "127.0.0.1:28081"
        return info
    }
}

func line(_ source: String, _ info: FakeStreamInfo) throws -> String {
    AccessLogFormatter(.text(try FormatString(parsing: source))).formatString(info)
}

/// A one-command format built without `FormatString(parsing:)`, whose tokenizer stops at the
/// first `%` inside `START_TIME(...)`.
func startTime(_ pattern: String, at nanos: Int64) throws -> String {
    var format = FormatString(literal: "")
    format.tokens = [.command(try FormatCommand(parsing: "START_TIME(\(pattern))"))]
    let info = FakeStreamInfo()
    info.startTimeNanos = nanos
    return AccessLogFormatter.evaluate(format, info)
}

func json(_ members: [(String, JSONTemplate)], omitEmpty: Bool = false, _ info: FakeStreamInfo) -> String {
    let template = members.map { JSONTemplate.Member(key: $0.0, value: $0.1) }
    return AccessLogFormatter(.json(template, omitEmpty: omitEmpty)).formatString(info)
}

func cmd(_ source: String) throws -> JSONTemplate { .string(try FormatString(parsing: source)) }

@Suite("Access log formatter")
struct AccessLogFormatterTests {
    @Test("Envoy's default format prints the same line Envoy 1.40 printed for the same request")
    func defaultFormat() {
        let envoyLine = "[2026-11-23T04:26:05.120Z] \"GET /proxy?q=1 HTTP/1.1\" 201 - 0 13 1 0 \"-\" \"curl/7.88.1\" "
            + "\"578c56f6-7f1d-4dd5-9e7d-fef367638421\" \"127.0.0.1:28080\" \"127.0.0.1:28081\"\n"
        let formatter = AccessLogFormatter(.text(.envoyDefaultAccessLog))
        #expect(formatter.formatString(FakeStreamInfo.proxiedCurl()) == envoyLine)
        #expect(formatter.format(FakeStreamInfo.proxiedCurl()) == Array(envoyLine.utf8))
    }

    @Test("the default format prefers x-envoy-original-path to :path")
    func originalPath() {
        let info = FakeStreamInfo.proxiedCurl()
        info.requestHeaders["x-envoy-original-path"] = "/before-rewrite"
        let line = AccessLogFormatter(.text(.envoyDefaultAccessLog)).formatString(info)
        #expect(line.contains("\"GET /before-rewrite HTTP/1.1\""))
    }

    @Test("missing values print a dash, a missing response code prints 0")
    func missingValues() throws {
        let source = "%PROTOCOL% %RESPONSE_CODE% %DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION% %UPSTREAM_HOST% "
            + "%REQ(x-missing)% %RESP(x-missing)% %TRAILER(x-missing)% %ROUTE_NAME% %DOWNSTREAM_REMOTE_ADDRESS% "
            + "%DOWNSTREAM_REMOTE_PORT% %VIRTUAL_CLUSTER_NAME% %RESPONSE_FLAGS% %UPSTREAM_CONNECTION_ID% "
            + "[%LOCAL_REPLY_BODY%]"
        #expect(try line(source, FakeStreamInfo()) == "- 0 - - - - - - - - - - - - 0 []")
    }

    @Test("REQ falls back to the alternative header only when the first is absent")
    func alternatives() throws {
        let info = FakeStreamInfo()
        info.requestHeaders = ["x-b": "bee", "x-empty": ""]
        #expect(try line("%REQ(X-A?X-B)%|%REQ(x-empty?x-b)%|%REQ(x-a?x-c)%", info) == "bee||-")
        info.requestHeaders["x-a"] = "ay"
        #expect(try line("%REQ(x-a?x-b)%", info) == "ay")
        info.responseHeaders = ["content-length": "6"]
        #expect(try line("%RESP(x-missing?content-length)%", info) == "6")
    }

    @Test("a length limit cuts the value but not the dash, and never splits a character")
    func truncation() throws {
        let info = FakeStreamInfo.proxiedCurl()
        info.requestHeaders["x-u"] = "éé"
        #expect(try line("%REQ(user-agent):3% %REQ(:path):4% %REQ(x-missing):1% [%REQ(:path):0%]", info)
            == "cur /pro - []")
        #expect(try line("%REQ(x-u):1%|%REQ(x-u):3%|%REQ(x-u):4%", info) == "|é|éé")
    }

    @Test("START_TIME defaults to ISO 8601 UTC with milliseconds")
    func startTimeDefault() throws {
        #expect(try startTime("", at: 0) == "1970-01-01T00:00:00.000Z")
        #expect(try startTime("", at: 1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123Z")
        #expect(try startTime("", at: -1) == "1969-12-31T23:59:59.999Z")
        let info = FakeStreamInfo()
        info.startTimeNanos = 1_700_000_000_123_456_789
        #expect(try line("%START_TIME%", info) == "2023-11-14T22:13:20.123Z")
    }

    @Test("START_TIME with Envoy's specifiers matches Envoy 1.40's output for the same instant")
    func startTimeAsEnvoy() throws {
        let pattern = "%s|%Y-%m-%dT%H:%M:%S.%3f%z|%f|%9f|%1f|%6f|%y %j %e %a %A %b %B %p %I %T %F %D %R %Z %%|"
            + "%s.%3f|%H:%M"
        let envoy = "1795407965|2026-11-23T04:26:05.101+0000|101029000|101029000|1|101029|26 327 23 Mon Monday Nov "
            + "November AM 04 04:26:05 2026-11-23 11/23/26 04:26 UTC %|1795407965.101|04:26"
        #expect(try startTime(pattern, at: 1_795_407_965_101_029_000) == envoy)
    }

    @Test("START_TIME fractions, epoch seconds and zone at fixed instants")
    func startTimeFractions() throws {
        let t: Int64 = 1_700_000_000_123_456_789
        #expect(try startTime("%s %3f %9f %f %1f %z %Z", at: t) == "1700000000 123 123456789 123456789 1 +0000 UTC")
        #expect(try startTime("%s %3f %9f %z", at: 0) == "0 000 000000000 +0000")
        #expect(try startTime("%Y-%m-%d %a %j [%e] %I%p %u%w", at: 0) == "1970-01-01 Thu 001 [ 1] 12AM 44")
        #expect(try startTime("%s.%9f", at: -1) == "-1.999999999")
        #expect(try startTime("plain %Q %", at: 0) == "plain %Q %")
    }

    @Test("START_TIME gets leap years and century rules right", arguments: [
        (Int64(1_709_208_000), "2024-02-29 060 Thu 12PM"),
        (Int64(1_735_646_399), "2024-12-31 366 Tue 11AM"),
        (Int64(951_825_600), "2000-02-29 060 Tue 12PM"),
        (Int64(-2_203_891_200), "1900-03-01 060 Thu 12AM"),
        (Int64(4_102_444_800), "2100-01-01 001 Fri 12AM"),
    ])
    func leapYears(seconds: Int64, expected: String) throws {
        #expect(try startTime("%F %j %a %I%p", at: seconds * 1_000_000_000) == expected)
    }

    @Test("durations are whole milliseconds, truncated; response TX is last byte sent minus first byte received")
    func durations() throws {
        let info = FakeStreamInfo()
        info.totalDuration = .nanoseconds(1_999_999)
        info.requestCompleteDuration = .microseconds(500)
        info.firstUpstreamByteDuration = .microseconds(3_200)
        info.lastDownstreamTxByteDuration = .microseconds(10_700)
        info.lastUpstreamTxByteDuration = .seconds(2)
        let source = "%DURATION% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION% %REQUEST_TX_DURATION%"
        #expect(try line(source, info) == "1 0 3 7 2000")
    }

    @Test("addresses split host and port, IPv6 included")
    func addresses() throws {
        let info = FakeStreamInfo()
        info.downstreamRemoteAddress = "[::1]:39762"
        info.downstreamDirectRemoteAddress = "10.0.0.7:5000"
        info.downstreamLocalAddress = "127.0.0.1:28080"
        info.upstreamHost = "127.0.0.1:28081"
        let source = "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT% "
            + "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% "
            + "%DOWNSTREAM_LOCAL_PORT% %UPSTREAM_REMOTE_ADDRESS%"
        #expect(try line(source, info) == "[::1]:39762 ::1 39762 10.0.0.7 127.0.0.1 28080 127.0.0.1:28081")
        info.downstreamRemoteAddress = "::1"
        #expect(try line("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_REMOTE_PORT%", info) == "::1 -")
    }

    @Test("RESPONSE_FLAGS prints short names, RESPONSE_FLAGS_LONG long ones, in ResponseFlags order")
    func responseFlags() throws {
        let info = FakeStreamInfo()
        #expect(try line("%RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG%", info) == "- -")
        info.responseFlags = [.upstreamRetryLimitExceeded, .upstreamConnectionFailure]
        #expect(try line("%RESPONSE_FLAGS%", info) == info.responseFlags.shortString)
        #expect(try line("%RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG%", info)
            == "UF,URX UpstreamConnectionFailure,UpstreamRetryLimitExceeded")
        info.responseFlags = [.noRouteFound]
        #expect(try line("%RESPONSE_FLAGS% %RESPONSE_FLAGS_LONG%", info) == "NR NoRouteFound")
    }

    @Test("counters, identifiers, HOSTNAME, ENVIRONMENT and UNIQUE_ID")
    func identifiers() throws {
        let info = FakeStreamInfo.proxiedCurl()
        info.connectionID = 7
        info.upstreamConnectionID = 9
        info.upstreamRequestAttemptCount = 2
        info.requestHeadersBytes = 175
        info.routeName = "proxy-route"
        info.streamID = "abc"
        #expect(try line("%CONNECTION_ID% %UPSTREAM_CONNECTION_ID% %UPSTREAM_REQUEST_ATTEMPT_COUNT% "
            + "%REQUEST_HEADERS_BYTES% %ROUTE_NAME% %STREAM_ID%", info) == "7 9 2 175 proxy-route abc")
        #expect(try line("%HOSTNAME%", info) == LogCommand.hostname)
        // An existing variable: setenv here would race with child processes other tests start
        // (Foundation's Process.run reads the environment and crashes on a concurrent change).
        let path = try #require(ProcessInfo.processInfo.environment["PATH"])
        let environment = AccessLogFormatter(.text(try FormatString(parsing:
            "%ENVIRONMENT(PATH)% %ENVIRONMENT(FERRY_ACCESS_LOG_UNSET_VARIABLE)%")))
        #expect(environment.formatString(info) == "\(path) -")
        let ids = try (0..<2).map { _ in try line("%UNIQUE_ID%", info) }
        #expect(ids[0] != ids[1])
        let parts = ids[0].split(separator: "-")
        #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
        #expect(parts[2].first == "4" && "89ab".contains(parts[3].first!))
        #expect(ids[0].allSatisfy { "0123456789abcdef-".contains($0) })
    }

    @Test("local reply bodies print dashes, header values print nothing for missing values")
    func evaluateHelpers() throws {
        let info = FakeStreamInfo()
        info.responseCode = 503
        info.localReplyBody = "orig"
        let format = try FormatString(parsing: "miss=[%REQ(x-missing)%] code=%RESPONSE_CODE% lrb=[%LOCAL_REPLY_BODY%]")
        #expect(AccessLogFormatter.evaluate(format, info) == "miss=[-] code=503 lrb=[orig]")
        #expect(AccessLogFormatter.evaluateHeaderValue(format, info) == "miss=[] code=503 lrb=[orig]")
        #expect(AccessLogFormatter.evaluate(FormatString(literal: "static"), info) == "static")
    }
}
