import Testing

@testable import FerryGRPC

@Suite("HTTP rules: templates, matching and request building")
struct HTTPRuleTests {
    let config: TranscoderConfig

    init() throws {
        config = try TranscoderConfig(descriptorSet: Protoc.descriptorBytes(), services: ["ferry.test.Bookstore"])
    }

    @Test("path templates compile into segments, variables and a verb")
    func templates() throws {
        let t = try PathTemplate("/v1/{name=shelves/*/books/**}:list")
        #expect(t.segments == [.literal("v1"), .literal("shelves"), .wildcard, .literal("books"), .multiWildcard])
        #expect(t.variables == [PathTemplate.Variable(fieldPath: ["name"], start: 1, end: 5)])
        #expect(t.verb == "list")
        let u = try PathTemplate("/a/{b.c}/*/{d=x/y}")
        #expect(u.segments == [.literal("a"), .wildcard, .wildcard, .literal("x"), .literal("y")])
        #expect(u.variables.map(\.fieldPath) == [["b", "c"], ["d"]])
        #expect(u.verb == nil)
    }

    @Test("invalid templates are config errors", arguments: [
        "v1/a", "/a/**/b", "/a/{b", "/a/{b}/{b}", "/a/{b={c}}", "/a//b", "/a/", "/a/b*", "/a/{1x}", "/a:", "/a/{b.}",
    ])
    func invalidTemplates(text: String) {
        #expect(throws: TranscodingError.self) { try PathTemplate(text) }
    }

    func expectMatch(_ method: String, _ path: String, _ grpcMethod: String, _ variables: [String: String] = [:],
                     sourceLocation: SourceLocation = #_sourceLocation) {
        let match = config.match(method: method, path: path)
        #expect(match?.binding.method.name == grpcMethod, sourceLocation: sourceLocation)
        let found = Dictionary(uniqueKeysWithValues: (match?.variables ?? []).map { ($0.fieldPath.joined(separator: "."), $0.value) })
        #expect(found == variables, sourceLocation: sourceLocation)
    }

    @Test("requests match their binding and capture variables")
    func matching() {
        expectMatch("GET", "/v1/shelves/1/books/2", "GetBook", ["shelf": "1", "book": "2"])
        expectMatch("GET", "/v1/shelves/s1/books/b2?x=1", "GetBook", ["shelf": "s1", "book": "b2"])
        expectMatch("GET", "/v2/books/9:peek", "GetBook", ["book": "9"])
        expectMatch("GET", "/v1/shelves/7/books", "ListBooks", ["shelf": "7"])
        expectMatch("GET", "/v1/shelves/7/books:stream", "StreamBooks", ["shelf": "7"])
        expectMatch("POST", "/v1/shelves/7/books", "CreateBook", ["shelf": "7"])
        expectMatch("PUT", "/v1/shelves/7/books/8", "CreateBook", ["shelf": "7", "book.id": "8"])
        expectMatch("POST", "/v1/books:create", "CreateBookWhole")
        expectMatch("DELETE", "/v1/shelves/3/books/anything", "GetAnything", ["shelf": "3"])
        expectMatch("PATCH", "/v1/shelves/3/books/4", "GetAnything", ["shelf": "3", "book": "4"])
        expectMatch("HEAD", "/v1/files/a/b/c", "GetAnything", ["name": "a/b/c"])
        expectMatch("GET", "/v1/files", "GetAnything", ["name": ""])
        expectMatch("GET", "/v1/shelves/7/books/", "ListBooks", ["shelf": "7"])
        expectMatch("GET", "/v1/shelves/7/books//", "ListBooks", ["shelf": "7"])
        #expect(config.match(method: "GET", path: "/v1/shelves/1/books/2/3") == nil)
        #expect(config.match(method: "POST", path: "/v1/shelves/1/books/2") == nil)
        #expect(config.match(method: "GET", path: "/v2/books/9") == nil)
        #expect(config.match(method: "GET", path: "/v2/books/9:other") == nil)
        #expect(config.match(method: "GET", path: "v1/files/a") == nil)
    }

    @Test("a literal segment wins over *, and * over **; auto_mapping binds POST /pkg.Service/Method")
    func specificity() throws {
        expectMatch("GET", "/v1/files/x/latest", "GetBook", ["shelf": "x"])
        expectMatch("GET", "/v1/files/x/latest/y", "GetAnything", ["name": "x/latest/y"])
        expectMatch("GET", "/v1/publishers/p/books/b", "GetBook", ["name": "publishers/p/books/b"])
        var rules = TranscoderOptions()
        rules.autoMapping = true
        let auto = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: rules)
        #expect(auto.match(method: "POST", path: "/ferry.test.Bookstore/UploadBooks")?.binding.body == "*")
        #expect(auto.match(method: "POST", path: "/ferry.test.Bookstore/GetBook") == nil, "methods with a rule keep only their rule")
        #expect(config.match(method: "POST", path: "/ferry.test.Bookstore/UploadBooks") == nil, "auto_mapping is off by default")
    }

    @Test("two bindings with the same pattern are a config error naming both")
    func duplicatePattern() throws {
        let service = try #require(config.pool.services["ferry.test.Bookstore"])
        let get = try #require(service.methods.first { $0.name == "GetBook" })
        let list = try #require(service.methods.first { $0.name == "ListBooks" })
        let a = HTTPBinding(method: get, httpMethod: "GET", template: try PathTemplate("/v1/{a}/x"), body: "", responseBody: "")
        let b = HTTPBinding(method: list, httpMethod: "GET", template: try PathTemplate("/v1/{b=*}/x"), body: "", responseBody: "")
        let error = #expect(throws: TranscodingError.self) { try PathMatcher(bindings: [a, b], unescapeSpec: .allCharacters) }
        #expect(error?.message == "GET /v1/{b=*}/x of ferry.test.Bookstore.ListBooks is the same pattern as GET /v1/{a}/x of ferry.test.Bookstore.GetBook")
    }

    @Test("single-segment variables are fully decoded, multi-segment ones keep reserved characters")
    func unescaping() throws {
        expectMatch("GET", "/v1/shelves/a%2Fb%20c/books/%41", "GetBook", ["shelf": "a/b c", "book": "A"])
        expectMatch("GET", "/v1/files/a%2Fb/c%20d%3F%zz", "GetAnything", ["name": "a%2Fb/c d%3F%zz"])
        var options = TranscoderOptions()
        options.urlUnescapeSpec = .allCharactersExceptSlash
        let noSlash = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: options)
        #expect(noSlash.match(method: "GET", path: "/v1/files/a%2Fb/c%3F")?.variables.first?.value == "a%2Fb/c?")
        options.urlUnescapeSpec = .allCharacters
        let all = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: options)
        #expect(all.match(method: "GET", path: "/v1/files/a%2Fb/c%3F")?.variables.first?.value == "a/b/c?")
    }

    func request(_ method: String, _ path: String, query: String = "", body: String = "",
                 config: TranscoderConfig? = nil) throws -> String {
        let config = config ?? self.config
        guard let match = config.match(method: method, path: path) else { throw Protoc.Failure(description: "no match for \(path)") }
        let bytes = try config.requestMessage(match, query: query, body: body.bytes)
        return try Protoc.decode(match.binding.method.inputType, bytes)
    }

    @Test("path variables and query parameters set nested and repeated fields")
    func queryParameters() throws {
        let text = try request("GET", "/v1/shelves/5/books/6", query: "name=a%20b+c&include_reviews=true&ids=1&ids=2&filter.author=x&filter.tags=t&filter.tags=u&color=RED&filter.pages=300&filter.published=2001-01-01T00:00:00Z&filter.color=2")
        let expected = try Protoc.decode("ferry.test.GetBookRequest", Protoc.encode("ferry.test.GetBookRequest", """
            shelf: 5 book: 6 name: "a b+c" include_reviews: true ids: [1, 2] color: RED
            filter { author: "x" tags: ["t", "u"] pages { value: 300 } published { seconds: 978307200 } color: GREEN }
            """))
        #expect(text == expected)
        var plus = TranscoderOptions()
        plus.queryParamUnescapePlus = true
        let withPlus = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: plus)
        #expect(try request("GET", "/v1/shelves/5/books/6", query: "name=a+b", config: withPlus).contains(#"name: "a b""#))
        // JSON names work too, and a parameter without '=' is ignored, as Envoy does.
        #expect(try request("GET", "/v1/shelves/5/books/6", query: "includeReviews=false&flag&=x&filter.available=true")
                == "shelf: 5\nbook: 6\nfilter {\n  available: true\n}\n")
    }

    @Test("a resource-name variable binds the path part it covers")
    func resourceName() throws {
        #expect(try request("GET", "/v1/publishers/p%2Fq/books/y") == "name: \"publishers/p%2Fq/books/y\"\n")
    }

    @Test("query parameters with values that do not fit their field are invalid", arguments: [
        ("shelf=x", "shelf"),
        ("include_reviews=maybe", "include_reviews"),
        ("filter=1", "cannot take a value from a URL"),
        ("color=PURPLE", "PURPLE"),
    ])
    func queryErrors(query: String, message: String) throws {
        let match = try #require(config.match(method: "GET", path: "/v1/shelves/5/books/6"))
        #expect(try config.unknownQueryParameters(match, query: query).isEmpty)
        let error = #expect(throws: TranscodingError.self) { try config.requestMessage(match, query: query, body: []) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        if case .invalidParameter? = error {} else { Issue.record("expected invalidParameter, got \(String(describing: error))") }
    }

    @Test("query parameters naming no field are found before the body, and fail the request if it is built",
          arguments: ["nope=1", "filter.nope=1", "ids.x=1", "include_reviews=1&nope=1"])
    func unknownQuery(query: String) throws {
        let match = try #require(config.match(method: "GET", path: "/v1/shelves/5/books/6"))
        #expect(try config.unknownQueryParameters(match, query: query) == [query.split(separator: "&").last!.split(separator: "=")[0]].map(String.init))
        let error = #expect(throws: TranscodingError.self) { try config.requestMessage(match, query: query, body: []) }
        if case .unknownQueryParameter? = error {} else { Issue.record("expected unknownQueryParameter, got \(String(describing: error))") }
    }

    @Test("percent-decoded values that are not UTF-8 are refused (Envoy forwards them into string fields)")
    func invalidUTF8() throws {
        let query = try #require(config.match(method: "GET", path: "/v1/shelves/5/books/6"))
        let error = #expect(throws: TranscodingError.self) { try config.requestMessage(query, query: "name=%FF", body: []) }
        #expect(error == .invalidParameter("query parameter \"name\" is not UTF-8 after percent-decoding"))
        #expect(try config.unknownQueryParameters(query, query: "%FF=1") == ["\u{FFFD}"])
        let path = try #require(config.match(method: "GET", path: "/v1/publishers/%C3/books/x"))
        #expect(path.malformedVariables == ["name"] && path.variables.isEmpty)
        #expect(throws: TranscodingError.invalidParameter("path variable {name} is not UTF-8 after percent-decoding")) {
            try config.requestMessage(path, query: "", body: [])
        }
    }

    @Test("booleans in URLs are read as Envoy reads them")
    func urlBooleans() throws {
        for (text, value) in [("true", true), ("T", true), ("yes", true), ("Y", true), ("1", true),
                              ("false", false), ("f", false), ("NO", false), ("n", false), ("0", false)] {
            let decoded = try request("GET", "/v1/shelves/5/books/6", query: "include_reviews=\(text)")
            #expect(decoded.contains("include_reviews: true") == value, "\(text)")
        }
    }

    @Test("ignore_unknown_query_parameters and ignored_query_parameters")
    func ignoredQuery() throws {
        var options = TranscoderOptions()
        options.ignoredQueryParameters = ["api_key"]
        let ignoring = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: options)
        #expect(try request("GET", "/v1/shelves/5/books/6", query: "api_key=s&book=7", config: ignoring) == "shelf: 5\nbook: 7\n")
        #expect(throws: TranscodingError.self) { try request("GET", "/v1/shelves/5/books/6", query: "other=1", config: ignoring) }
        options.ignoreUnknownQueryParameters = true
        let lenient = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: options)
        #expect(try request("GET", "/v1/shelves/5/books/6", query: "other=1&filter.x.y=2&book=7", config: lenient) == "shelf: 5\nbook: 7\n")
        // Known fields with bad values stay errors.
        #expect(throws: TranscodingError.self) { try request("GET", "/v1/shelves/5/books/6", query: "book=x", config: lenient) }
    }

    @Test("body \"field\" fills that field, body \"*\" the whole message, path variables on top")
    func bodies() throws {
        #expect(try request("POST", "/v1/shelves/3/books", query: "request_id=r", body: #"{"id": "4", "name": "N"}"#)
                == "shelf: 3\nbook {\n  id: 4\n  name: \"N\"\n}\nrequest_id: \"r\"\n")
        // A field set by both the path and the body keeps the body's value, as in Envoy.
        #expect(try request("PUT", "/v1/shelves/3/books/9", body: #"{"id": "4", "author": "A"}"#)
                == "shelf: 3\nbook {\n  id: 4\n  author: \"A\"\n}\n")
        #expect(try request("PUT", "/v1/shelves/3/books/9", body: #"{"author": "A"}"#)
                == "shelf: 3\nbook {\n  id: 9\n  author: \"A\"\n}\n")
        #expect(try request("POST", "/v1/books:create", body: #"{"shelf": 1, "book": {"name": "x"}, "requestId": "q"}"#)
                == "shelf: 1\nbook {\n  name: \"x\"\n}\nrequest_id: \"q\"\n")
        #expect(try request("POST", "/v1/books:create") == "")
        #expect(try request("PATCH", "/v1/shelves/3/books/4", body: #"{"tags": ["a"]}"#) == "shelf: 3\nbook: 4\nfilter {\n  tags: \"a\"\n}\n")
        // A GET without a body rule ignores a body.
        #expect(try request("GET", "/v1/shelves/1/books/2", body: "not json") == "shelf: 1\nbook: 2\n")
        let error = #expect(throws: TranscodingError.self) { try request("POST", "/v1/shelves/3/books", body: #"{"id": "4",}"#) }
        if case .malformedJSON? = error {} else { Issue.record("expected malformedJSON, got \(String(describing: error))") }
        // Unknown body fields are skipped, as Envoy does.
        #expect(try request("POST", "/v1/shelves/3/books", body: #"{"isbn": 1, "name": "n"}"#) == "shelf: 3\nbook {\n  name: \"n\"\n}\n")
        let wrongType = #expect(throws: TranscodingError.self) { try request("POST", "/v1/shelves/3/books", body: #"{"id": "x"}"#) }
        #expect(wrongType?.message == "book.id: \"x\" is not an integer in range")
    }

    @Test("a client stream is a JSON array of messages; path and query fields go into the first")
    func clientStreaming() throws {
        var options = TranscoderOptions()
        options.autoMapping = true
        let auto = try TranscoderConfig(pool: config.pool, services: ["ferry.test.Bookstore"], options: options)
        let match = try #require(auto.match(method: "POST", path: "/ferry.test.Bookstore/UploadBooks"))
        let messages = try auto.requestMessages(match, query: "name=q", body: #"[{"id": "1"}, {"id": "2", "bogus": 0}]"#.bytes)
        #expect(try messages.map { try Protoc.decode("ferry.test.Book", $0) } == ["id: 1\nname: \"q\"\n", "id: 2\n"])
        #expect(try auto.requestMessages(match, query: "", body: "[]".bytes).isEmpty)
        for body in ["", #"{"id": "1"}"#] {
            let error = #expect(throws: TranscodingError.self) { try auto.requestMessages(match, query: "", body: body.bytes) }
            #expect(error?.message.contains("must be a JSON array of messages") == true)
        }
        #expect(throws: TranscodingError.self) { try auto.requestMessages(match, query: "", body: #"[{"id": "x"}]"#.bytes) }
    }

    @Test("response_body selects one field of the response")
    func responseBody() throws {
        let listMatch = try #require(config.match(method: "GET", path: "/v1/shelves/1/books"))
        let response = try Protoc.encode("ferry.test.ListBooksResponse", #"books { id: 1 } books { name: "b" } next_page_token: "t""#)
        #expect(try config.responseJSON(message: response, binding: listMatch.binding).text == #"[{"id":"1"},{"name":"b"}]"#)
        #expect(try config.responseJSON(message: [], binding: listMatch.binding).text == "[]")
        let getMatch = try #require(config.match(method: "GET", path: "/v1/shelves/1/books/2"))
        let book = try Protoc.encode("ferry.test.Book", #"id: 1 color: RED published { seconds: 1 }"#)
        #expect(try config.responseJSON(message: book, binding: getMatch.binding).text
                == #"{"id":"1","color":"RED","published":"1970-01-01T00:00:01Z"}"#)
        #expect(throws: TranscodingError.self) { try config.responseJSON(message: [0x0A, 0x05], binding: getMatch.binding) }
    }

    @Test("config errors name the method and the field")
    func configErrors() throws {
        let error = #expect(throws: TranscodingError.self) {
            try TranscoderConfig(pool: config.pool, services: ["ferry.test.Nope"])
        }
        #expect(error?.message.contains("service ferry.test.Nope is not in the descriptor set (it has: ferry.test.Bookstore)") == true)
    }
}
