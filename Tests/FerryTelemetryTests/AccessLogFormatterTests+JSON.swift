@testable import FerryConfig
@testable import FerryTelemetry
import Testing

/// Expected lines were captured from Envoy 1.40 with the same json_format and request.
@Suite("Access log formatter, JSON")
struct AccessLogJSONFormatTests {
    static func proxied() -> FakeStreamInfo {
        let info = FakeStreamInfo.proxiedCurl()
        info.upstreamRequestAttemptCount = 1
        info.connectionID = 1
        info.upstreamConnectionID = 2
        info.requestHeadersBytes = 202
        info.requestCompleteDuration = .microseconds(200)
        info.firstUpstreamByteDuration = .microseconds(1_300)
        info.downstreamLocalAddress = "127.0.0.1:28080"
        info.downstreamRemoteAddress = "127.0.0.1:38204"
        return info
    }

    @Test("single commands are typed as Envoy types them, members come out sorted, one object per line")
    func typedValues() throws {
        let template: [(String, JSONTemplate)] = [
            ("status", try cmd("%RESPONSE_CODE%")), ("bytes", try cmd("%BYTES_SENT%")),
            ("rbytes", try cmd("%BYTES_RECEIVED%")), ("dur", try cmd("%DURATION%")),
            ("reqdur", try cmd("%REQUEST_DURATION%")), ("respdur", try cmd("%RESPONSE_DURATION%")),
            ("missing", try cmd("%REQ(x-missing)%")), ("mixed", try cmd("code=%RESPONSE_CODE%")),
            ("mixedmissing", try cmd("x=%REQ(x-missing)%")), ("flags", try cmd("%RESPONSE_FLAGS%")),
            ("attempts", try cmd("%UPSTREAM_REQUEST_ATTEMPT_COUNT%")), ("connid", try cmd("%CONNECTION_ID%")),
            ("upconn", try cmd("%UPSTREAM_CONNECTION_ID%")), ("hbytes", try cmd("%REQUEST_HEADERS_BYTES%")),
            ("port", try cmd("%DOWNSTREAM_LOCAL_PORT%")), ("rport", try cmd("%DOWNSTREAM_REMOTE_PORT%")),
            ("trunc", try cmd("%REQ(:path):4%")), ("ua", try cmd("%REQ(user-agent)%")),
            ("esc", try cmd("%REQ(x-esc)%")),
            ("lit_num", .number("42")), ("lit_float", .number("1.5")), ("lit_bool", .bool(true)), ("lit_null", .null),
            ("lit_str", try cmd("plain")), ("two", try cmd("%RESPONSE_CODE%%BYTES_SENT%")),
            ("nested", .object([.init(key: "inner", value: try cmd("%REQ(:method)%")),
                                .init(key: "num", value: try cmd("%RESPONSE_CODE%")),
                                .init(key: "deeper", value: .object([
                                    .init(key: "m", value: try cmd("%REQ(x-missing)%")),
                                ]))])),
            ("start", try cmd("%START_TIME%")), ("empty", try cmd("")), ("pct", try cmd("100%%")),
        ]
        let envoy = #"{"attempts":1,"bytes":13,"connid":1,"dur":1,"empty":"","esc":null,"flags":"-","hbytes":202,"#
            + #""lit_bool":true,"lit_float":"1.5","lit_null":null,"lit_num":42,"lit_str":"plain","missing":null,"#
            + #""mixed":"code=201","mixedmissing":"x=-","nested":{"deeper":{"m":null},"inner":"GET","num":201},"#
            + #""pct":"100%","port":28080,"rbytes":0,"reqdur":0,"respdur":1,"rport":38204,"#
            + #""start":"2026-11-23T04:26:05.120Z","status":201,"trunc":"/pro","two":"20113","ua":"curl/7.88.1","#
            + #""upconn":2}"# + "\n"
        #expect(json(template, Self.proxied()) == envoy)
    }

    @Test("missing typed values are null, a missing response code is the number 0")
    func nulls() throws {
        let template: [(String, JSONTemplate)] = [
            ("status", try cmd("%RESPONSE_CODE%")), ("rtx", try cmd("%RESPONSE_TX_DURATION%")),
            ("uh", try cmd("%UPSTREAM_HOST%")), ("twomissing", try cmd("%REQ(x-m1)%%REQ(x-m2)%")),
            ("spmissing", try cmd("%REQ(x-m1)% ")), ("lrb", try cmd("%LOCAL_REPLY_BODY%")),
            ("cut", try cmd("%REQ(x-m1):2%")),
        ]
        #expect(json(template, FakeStreamInfo())
            == #"{"cut":null,"lrb":"","rtx":null,"spmissing":"- ","status":0,"twomissing":"--","uh":null}"# + "\n")
    }

    @Test("strings escape quotes, backslashes and control characters and keep UTF-8 as is")
    func escaping() throws {
        let info = FakeStreamInfo()
        info.requestHeaders["x-esc"] =
            "q\"s\\ln\nr\rb\u{08}f\u{0C}c1\u{01}c1f\u{1F}del\u{7F}sl/lt<gt>amp&ap'eéemoji😀"
        let escaped = #"q\"s\\ln\nr\rb\bf\fc1\u0001c1f\u001fdel\#u{7F}sl/lt<gt>amp&ap'eéemoji😀"#
        let line = json([("esc", try cmd("%REQ(x-esc)%")), ("a\"b\tc", try cmd("[%REQ(x-esc)%]")),
                         ("lit", try cmd("tab\there \"q\""))], info)
        #expect(line == #"{"a\"b\tc":"["# + escaped + #"]","esc":""# + escaped + #"","lit":"tab\there \"q\""}"# + "\n")
    }

    @Test("literal numbers stay numbers only when they are 32-bit integers, as Envoy's YAML loader makes them")
    func literalNumbers() {
        let cases = [("n1", "1.0"), ("n2", "-3"), ("n3", "1e3"), ("n4", "0.5"), ("n5", "100"), ("n7", "10000000000"),
                     ("n8", "0"), ("big", "2147483647"), ("big2", "2147483648"), ("hex", "0x10"), ("plus", "+5"),
                     ("lead", "007"), ("neg0", "-0")]
        let line = json(cases.map { ($0.0, JSONTemplate.number($0.1)) } + [("b", .bool(false))], FakeStreamInfo())
        #expect(line == #"{"b":false,"big":2147483647,"big2":"2147483648","hex":16,"lead":7,"n1":"1.0","n2":-3,"#
            + #""n3":"1e3","n4":"0.5","n5":100,"n7":"10000000000","n8":0,"neg0":0,"plus":5}"# + "\n")
    }

    @Test("keys sort by bytes: digits, upper case, underscore, lower case, then non-ASCII")
    func keyOrder() throws {
        let keys = ["é", "a", "_x", "Z", "B", "10"]
        let line = json(keys.map { ($0, JSONTemplate.bool(true)) }, FakeStreamInfo())
        #expect(line == #"{"10":true,"B":true,"Z":true,"_x":true,"a":true,"é":true}"# + "\n")
    }

    @Test("omit_empty_values drops nulls and emptied objects but keeps empty strings")
    func omitEmpty() throws {
        let template: [(String, JSONTemplate)] = [
            ("status", try cmd("%RESPONSE_CODE%")), ("missing", try cmd("%REQ(x-missing)%")),
            ("mixedmissing", try cmd("x=%REQ(x-missing)%")), ("upstream", try cmd("%UPSTREAM_HOST%")),
            ("empty", try cmd("")), ("lit_null", .null), ("lit_num", .number("0")), ("lit_str", try cmd("plain")),
            ("emptyhdr", try cmd("%REQ(x-empty)%")),
            ("nested", .object([.init(key: "m", value: try cmd("%REQ(x-missing)%"))])),
            ("nested2", .object([.init(key: "m", value: try cmd("%REQ(x-missing)%")),
                                 .init(key: "k", value: try cmd("v"))])),
            ("twomissing", try cmd("%REQ(x-m1)%%REQ(x-m2)%")), ("spmissing", try cmd("%REQ(x-m1)% ")),
            ("emptyobj", .object([])), ("rd", try cmd("%RESPONSE_DURATION%")),
        ]
        let info = FakeStreamInfo()
        info.responseCode = 200
        #expect(json(template, omitEmpty: true, info)
            == #"{"empty":"","lit_num":0,"lit_str":"plain","mixedmissing":"x=","nested2":{"k":"v"},"spmissing":" ","#
            + #""status":200,"twomissing":""}"# + "\n")
        info.requestHeaders["x-empty"] = ""
        info.upstreamHost = "127.0.0.1:28081"
        #expect(json(template, omitEmpty: true, info).contains(#""emptyhdr":"","#))
        #expect(json(template, omitEmpty: true, info).contains(#""upstream":"127.0.0.1:28081"}"#))
        #expect(json([("gone", .null)], omitEmpty: true, info) == "{}\n")
    }

    @Test("without omit_empty_values an empty object stays")
    func emptyObjectKept() {
        #expect(json([("emptyobj", .object([])), ("n", .null)], FakeStreamInfo())
            == #"{"emptyobj":{},"n":null}"# + "\n")
    }

    @Test("a length limit on a numeric command makes it a string")
    func truncatedNumber() throws {
        let info = FakeStreamInfo.proxiedCurl()
        #expect(json([("b", try cmd("%BYTES_SENT:1%")), ("c", try cmd("%RESPONSE_CODE%"))], info)
            == #"{"b":"1","c":201}"# + "\n")
    }
}
