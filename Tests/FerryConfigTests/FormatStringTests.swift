@testable import FerryConfig
import Testing

/// Format strings, access log formats and local reply mappers.
@Suite("Format strings and access logs")
struct FormatStringTests {
    private func parse(_ text: String) throws(FormatString.ParseError) -> FormatString {
        try FormatString(parsing: text)
    }

    /// Tokens as short strings: `"text"` for literals, `NAME[arg,arg]:max` for commands.
    private func render(_ format: FormatString) -> [String] {
        format.tokens.map { token in
            switch token {
            case .literal(let text): return "\"\(text)\""
            case .command(let c):
                return c.name + (c.arguments.isEmpty ? "" : "[\(c.arguments.joined(separator: ","))]")
                    + (c.maxLength.map { ":\($0)" } ?? "")
            }
        }
    }

    private func parseError(_ text: String) -> FormatString.ParseError? {
        do {
            _ = try FormatString(parsing: text)
            return nil
        } catch {
            return error
        }
    }

    @Test("literal text and %% stay literal")
    func literals() throws {
        let format = try parse("100%% done\n")
        #expect(format.tokens == [.literal("100% done\n")])
        #expect(format.isLiteral && format.literalValue == "100% done\n")
        #expect(try parse("").tokens.isEmpty)
    }

    @Test("%REQ(X?Y):10% has a header, its alternative and a length")
    func reqWithAlternative() throws {
        let format = try parse("path=%REQ(X-ENVOY-ORIGINAL-PATH?:PATH):10% end")
        #expect(render(format) == ["\"path=\"", "REQ[x-envoy-original-path,:path]:10", "\" end\""])
    }

    @Test("%START_TIME(...)% may contain % in its argument")
    func startTimeWithPercents() throws {
        let format = try parse("[%START_TIME(%Y-%m-%dT%H:%M:%S)%] %RESPONSE_CODE%")
        #expect(render(format) == ["\"[\"", "START_TIME[%Y-%m-%dT%H:%M:%S]", "\"] \"", "RESPONSE_CODE"])
    }

    @Test("a START_TIME argument may hold %% and spaces; it stays one command")
    func startTimeWithEscapedPercent() throws {
        let format = try parse("%START_TIME(%s.%3f %% %H:%M)% done")
        #expect(render(format) == ["START_TIME[%s.%3f %% %H:%M]", "\" done\""])
    }

    @Test("commands without arguments, with a length")
    func plainCommands() throws {
        let format = try parse("%PROTOCOL%%DURATION%:%UPSTREAM_HOST:8%")
        #expect(render(format) == ["PROTOCOL", "DURATION", "\":\"", "UPSTREAM_HOST:8"])
    }

    @Test("Envoy's default access log format parses")
    func envoyDefault() {
        let commands = FormatString.envoyDefaultAccessLog.tokens.filter {
            if case .command = $0 { true } else { false }
        }
        #expect(commands.count == 15)
        #expect(FormatString.envoyDefaultAccessLog.source.hasSuffix("\"%UPSTREAM_HOST%\"\n"))
    }

    @Test("an unknown command suggests the closest one")
    func unknownCommand() throws {
        let error = try #require(parseError("%RESPONSE_CODES%"))
        #expect(error.message == "unknown command %RESPONSE_CODES% (did you mean %RESPONSE_CODE%?)")
        #expect(error.fix == "write %RESPONSE_CODE%")
        let withArgument = try #require(parseError("%REQ_HEADER(x-id)%"))
        #expect(withArgument.message.hasPrefix("unknown command %REQ_HEADER%"))
    }

    @Test(
        "Envoy-only commands are not supported yet, with or without arguments",
        arguments: [
            "%DYNAMIC_METADATA(com.example:key)%", "%FILTER_STATE(my.key:PLAIN)%", "%TRACE_ID%",
            "%DOWNSTREAM_TLS_CIPHER%",
        ])
    func envoyOnlyCommand(text: String) throws {
        let error = try #require(parseError(text))
        #expect(error.message.contains("is not supported yet by Ferry"), "\(error.message)")
        #expect(!error.fix.isEmpty)
    }

    @Test(
        "argument and syntax mistakes are explained",
        arguments: [
            ("%REQ%", "%REQ% needs an argument"), ("%REQ()%", "%REQ% needs an argument"),
            ("%PROTOCOL(x)%", "%PROTOCOL% takes no argument"), ("%REQ(host):abc%", "has a bad length"),
            ("%REQ(host", "unclosed parenthesis"), ("%PROTOCOL", "unterminated command"),
            ("%REQ(host)x%", "unexpected text \"x\""),
        ])
    func syntaxMistakes(text: String, message: String) throws {
        let error = try #require(parseError(text))
        #expect(error.message.contains(message), "\(error.message)")
        #expect(!error.fix.isEmpty)
    }

    private func accessLog(
        _ typedConfig: String, filter: String = "",
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> AccessLog? {
        let yaml = Fixture.bootstrap(
            hcm: "access_log:\n- name: log\n" + (filter.isEmpty ? "" : "  filter: \(filter)\n")
                + "  typed_config:\n" + typedConfig.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        return Fixture.load(yaml, sourceLocation: sourceLocation)?.listeners.only?.httpConnectionManager?.accessLogs.only
    }

    @Test("a file access log with a JSON format keeps keys in order and types of values")
    func jsonFormat() throws {
        let log = try #require(
            accessLog(
                """
                "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: /var/log/ferry.log
                log_format:
                  json_format:
                    status: "%RESPONSE_CODE%"
                    path: "%REQ(:PATH)%"
                    fixed: 1
                    flag: true
                    nested: {upstream: "%UPSTREAM_HOST%"}
                  omit_empty_values: true
                """))
        #expect(log.sink == .file("/var/log/ferry.log"))
        guard case .json(let members, let omitEmpty) = log.format else {
            Issue.record("expected a JSON format, got \(log.format)")
            return
        }
        #expect(omitEmpty)
        #expect(members.map(\.key) == ["status", "path", "fixed", "flag", "nested"])
        guard case .number("1") = members[2].value, case .bool(true) = members[3].value,
            case .string(let path) = members[1].value, case .object(let nested) = members[4].value
        else {
            Issue.record("unexpected member values")
            return
        }
        #expect(render(path) == ["REQ[:path]"])
        #expect(nested.map(\.key) == ["upstream"])
    }

    @Test("stdout logs with a text format and a status filter")
    func textFormatWithFilter() throws {
        let log = try #require(
            accessLog(
                """
                "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                log_format: {text_format: "%RESPONSE_CODE% %REQ(:PATH)%\\n"}
                """,
                filter: "{status_code_filter: {comparison: {op: GE, value: {default_value: 500, runtime_key: errors}}}}"
            ))
        #expect(log.sink == .stdout)
        guard case .text(let text) = log.format, case .statusCode(.ge, 500)? = log.filter else {
            Issue.record("unexpected format or filter")
            return
        }
        #expect(text.source == "%RESPONSE_CODE% %REQ(:PATH)%\n")
    }

    @Test("a list inside json_format is rejected at the list")
    func jsonFormatList() {
        let yaml = Fixture.bootstrap(
            hcm: """
                access_log:
                - name: log
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                    log_format: {json_format: {codes: [1, 2]}}
                """)
        Fixture.expectOneError(
            yaml, at: "[1, 2]", path: "\(Fixture.hcm).access_log[0].typed_config.log_format.json_format.codes",
            message: "lists are not allowed in json_format")
    }

    @Test("a bad command in a text access log is located at the format")
    func badCommandInAccessLog() {
        let yaml = Fixture.bootstrap(
            hcm: """
                access_log:
                - name: log
                  typed_config:
                    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                    path: /dev/stdout
                    format: "%RESPONSE_CODE% %DYNAMIC_METADATA(a:b)%"
                """)
        Fixture.expectOneError(
            yaml, at: "\"%RESPONSE_CODE% %DYNAMIC", path: "\(Fixture.hcm).access_log[0].typed_config.format",
            message: "command %DYNAMIC_METADATA% is not supported yet by Ferry")
    }

    @Test("local_reply_config mappers with filters, status, body and headers")
    func localReplyMappers() throws {
        let yaml = Fixture.bootstrap(
            hcm: """
                local_reply_config:
                  mappers:
                  - filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 503, runtime_key: k}}}}
                    status_code: 504
                    body: {inline_string: "upstream down"}
                    headers_to_add: [{header: {key: x-reason, value: down}}]
                  - filter: {header_filter: {header: {name: x-debug, present_match: true}}}
                    body_format_override: {text_format: "debug %RESPONSE_CODE%", content_type: text/plain}
                  body_format:
                    json_format: {code: "%RESPONSE_CODE%", message: "%LOCAL_REPLY_BODY%"}
                """)
        let config = try #require(Fixture.load(yaml)?.listeners.only?.httpConnectionManager?.localReplyConfig)
        #expect(config.mappers.count == 2)
        let first = config.mappers[0], second = config.mappers[1]
        guard case .statusCode(.eq, 503) = first.filter, case .header(let header) = second.filter else {
            Issue.record("unexpected mapper filters")
            return
        }
        #expect(header.name == "x-debug")
        #expect(first.statusCode == 504 && second.statusCode == nil)
        #expect(first.body?.string == "upstream down")
        #expect(first.headersToAdd.map(\.name) == ["x-reason"])
        #expect(second.bodyFormat?.contentType == "text/plain")
        guard case .json(let members, _)? = config.bodyFormat?.format else {
            Issue.record("expected a JSON body format")
            return
        }
        #expect(members.map(\.key) == ["code", "message"])
    }

    @Test("a local reply mapper without a filter")
    func mapperWithoutFilter() {
        let yaml = Fixture.bootstrap(
            hcm: """
                local_reply_config:
                  mappers:
                  - status_code: 504
                """)
        Fixture.expectOneError(
            yaml, at: "status_code: 504", path: "\(Fixture.hcm).local_reply_config.mappers[0].filter",
            message: "a mapper needs a filter")
    }

    @Test("an unknown response flag in a filter suggests a real one")
    func unknownResponseFlag() {
        let yaml = Fixture.bootstrap(
            hcm: """
                access_log:
                - name: log
                  filter: {response_flag_filter: {flags: [UH, UFF]}}
                  typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog}
                """)
        let error = Fixture.expectOneError(
            yaml, at: "UFF", path: "\(Fixture.hcm).access_log[0].filter.response_flag_filter.flags",
            message: "unknown response flag \"UFF\"")
        #expect(error?.message.contains("did you mean") == true)
    }
}
