import Testing

@testable import FerryGRPC

/// JSON → message is checked against protoc's own encoder (the same message written in text
/// format), message → JSON against Python's json_format.
@Suite("Proto3 JSON mapping")
struct JSONMappingTests {
    let config: TranscoderConfig

    init() throws {
        config = try TranscoderConfig(descriptorSet: Protoc.descriptorBytes(), services: ["ferry.test.Bookstore"])
    }

    /// JSON → our bytes, decoded by protoc, equals `text` encoded and decoded by protoc; and
    /// the bytes are protoc's own, unless the JSON sets fields to their defaults (written like
    /// Envoy does, where protoc leaves them out).
    func expectEncodes(_ json: String, as text: String, type: String = "ferry.test.Kitchen", exactBytes: Bool = true,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ours = try config.message(json: json.bytes, type: type, strict: true)
        let reference = try Protoc.encode(type, text)
        #expect(try Protoc.decode(type, ours) == Protoc.decode(type, reference), sourceLocation: sourceLocation)
        if exactBytes { #expect(ours == reference, "byte-identical to protoc", sourceLocation: sourceLocation) }
    }

    /// Text → protoc bytes → our JSON equals Python's json_format of the same bytes.
    func expectPrints(_ text: String, type: String = "ferry.test.Kitchen", options: JSONPrintOptions = JSONPrintOptions(),
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bytes = try Protoc.encode(type, text)
        let ours = try JSONParser.parse(TranscoderConfig(pool: config.pool, services: [], options: {
            var o = TranscoderOptions()
            o.printOptions = options
            return o
        }()).json(message: bytes, type: type))
        let reference = try Protoc.referenceJSON(type, bytes, alwaysPrint: options.alwaysPrintPrimitiveFields,
                                                 enumsAsInts: options.alwaysPrintEnumsAsInts,
                                                 protoNames: options.preserveProtoFieldNames)
        #expect(ours.sameJSON(as: reference), "ours: \(JSONWriter.serialize(ours).text)\nreference: \(JSONWriter.serialize(reference).text)",
                sourceLocation: sourceLocation)
    }

    static let allScalarsText = """
        scalars { f_double: -2.5 f_float: 0.1 f_int64: -9007199254740993 f_uint64: 18446744073709551615
          f_int32: -2147483648 f_fixed64: 18446744073709551615 f_fixed32: 4294967295 f_bool: true
          f_string: "héllo \\"w\\"\\n" f_bytes: "\\000\\377ab" f_uint32: 4294967295 f_enum: BLUE
          f_sfixed32: -5 f_sfixed64: -9223372036854775808 f_sint32: -7 f_sint64: 9223372036854775807 }
        """

    @Test("every scalar type is encoded as protoc encodes it")
    func scalarsEncode() throws {
        try expectEncodes("""
            {"scalars": {"fDouble": -2.5, "fFloat": 0.1, "fInt64": "-9007199254740993", "fUint64": "18446744073709551615",
             "fInt32": -2147483648, "fFixed64": "18446744073709551615", "fFixed32": 4294967295, "fBool": true,
             "fString": "héllo \\"w\\"\\n", "fBytes": "AP9hYg==", "fUint32": 4294967295, "fEnum": "BLUE",
             "fSfixed32": -5, "fSfixed64": "-9223372036854775808", "fSint32": -7, "fSint64": "9223372036854775807"}}
            """, as: Self.allScalarsText)
    }

    @Test("every scalar type prints as json_format prints it")
    func scalarsPrint() throws {
        try expectPrints(Self.allScalarsText)
        try expectPrints("scalars { f_double: 1e+300 f_float: 3.4028235e+38 f_int64: 1 }")
        try expectPrints("scalars { f_double: 1e-7 f_float: -0.000123 }")
        try expectPrints("scalars { f_double: 123456789012345680000 f_float: 16777216 }")
        try expectPrints("scalars { f_double: nan f_float: -inf }")
        try expectPrints("scalars { f_double: inf }")
    }

    @Test("doubles and floats print as protobuf's C++ printer: %.15g (%.17g) and %.6g (%.9g)")
    func floatText() {
        let doubles: [(Double, String)] = [
            (0, "0"), (-0.0, "-0"), (100, "100"), (1.5, "1.5"), (0.0001, "0.0001"), (0.00001, "1e-05"), (1e15, "1e+15"),
            (123456789012345, "123456789012345"), (1234567890123456, "1234567890123456"), (1e17, "1e+17"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1.2345678901234568e20, "1.2345678901234568e+20"), (-2.5e-300, "-2.5e-300"), (0.1, "0.1"), (1.0 / 3, "0.33333333333333331"),
        ]
        for (d, text) in doubles { #expect(NumberText.format(d) == text, "\(d)") }
        let floats: [(Float, String)] = [(0.1, "0.1"), (16777216, "16777216"), (1e6, "1e+06"), (3.4028235e38, "3.40282347e+38"), (1.0 / 3, "0.333333343"), (1e-10, "1e-10")]
        for (f, text) in floats { #expect(NumberText.format(f) == text, "\(f)") }
    }

    @Test("numbers are accepted as strings, integers in exponent form, 64-bit as numbers")
    func lenientNumbers() throws {
        try expectEncodes("""
            {"scalars": {"fInt32": "12", "fInt64": 9007199254740993, "fUint32": 1e3, "fUint64": "2.0",
             "f_sint32": -1.0E1, "fDouble": "NaN", "fFloat": "-Infinity", "fFixed32": "0"}}
            """, as: "scalars { f_int32: 12 f_int64: 9007199254740993 f_uint32: 1000 f_uint64: 2 f_sint32: -10 f_double: nan f_float: -inf }",
            exactBytes: false)
        try expectEncodes(#"{"scalars": {"fDouble": "1.5e2", "fFloat": 2}}"#, as: "scalars { f_double: 150 f_float: 2 }")
    }

    @Test("out-of-range and wrongly typed values are errors naming the field", arguments: [
        (#"{"scalars": {"fInt32": 2147483648}}"#, "scalars.fInt32"),
        (#"{"scalars": {"fInt32": 1.5}}"#, "scalars.fInt32"),
        (#"{"scalars": {"fUint32": -1}}"#, "scalars.fUint32"),
        (#"{"scalars": {"fUint64": "18446744073709551616"}}"#, "scalars.fUint64"),
        (#"{"scalars": {"fInt64": "9223372036854775808"}}"#, "scalars.fInt64"),
        (#"{"scalars": {"fInt64": " 1"}}"#, "scalars.fInt64"),
        (#"{"scalars": {"fFloat": 1e39}}"#, "scalars.fFloat"),
        (#"{"scalars": {"fDouble": "nan"}}"#, "scalars.fDouble"),
        (#"{"scalars": {"fDouble": 1e400}}"#, "scalars.fDouble"),
        (#"{"scalars": {"fBool": "true"}}"#, "scalars.fBool"),
        (#"{"scalars": {"fString": 1}}"#, "scalars.fString"),
        (#"{"scalars": {"fBytes": "a"}}"#, "scalars.fBytes"),
        (#"{"scalars": {"fEnum": "PURPLE"}}"#, "scalars.fEnum"),
        (#"{"scalars": {"fEnum": 2147483648}}"#, "scalars.fEnum"),
        (#"{"scalars": {"nope": 1}}"#, "unknown field \"nope\""),
        (#"{"choiceText": "a", "choiceNumber": 1}"#, "oneof choice"),
        (#"{"repeated": {"rInt32": [1, null]}}"#, "repeated.rInt32[1]"),
        (#"{"repeated": {"rInt32": 1}}"#, "expected an array"),
        (#"{"strMap": {"a": 1, "a": 2}}"#, "more than once"),
        (#"{"intMap": {"x": "v"}}"#, "intMap[\"x\"]"),
        (#"{"boolMap": {"yes": {}}}"#, "not a boolean"),
        (#"{"inner": 5}"#, "expected an object"),
        (#"[1]"#, "expected an object"),
    ])
    func rejects(json: String, message: String) throws {
        let error = #expect(throws: TranscodingError.self) { try config.message(json: json.bytes, type: "ferry.test.Kitchen", strict: true) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test("as in Envoy, unknown fields are skipped unless strict, and a field given twice keeps its last value")
    func envoyLeniency() throws {
        let lenient = try config.message(json: #"{"bogus": 1, "inner": {"id": 1, "nope": [{}]}, "optInt": 1, "opt_int": 2}"#.bytes,
                                         type: "ferry.test.Kitchen")
        #expect(try Protoc.decode("ferry.test.Kitchen", lenient) == "inner {\n  id: 1\n}\nopt_int: 2\n")
        let repeatedTwice = try config.message(json: #"{"tags": ["a"], "tags": ["b"]}"#.bytes, type: "ferry.test.Book")
        #expect(try Protoc.decode("ferry.test.Book", repeatedTwice) == "tags: \"a\"\ntags: \"b\"\n")
    }

    @Test("bytes accept URL-safe base64 and missing padding")
    func base64Variants() throws {
        try expectEncodes(#"{"scalars": {"fBytes": "-_8"}}"#, as: #"scalars { f_bytes: "\373\377" }"#)
        try expectEncodes(#"{"scalars": {"fBytes": "+/8="}}"#, as: #"scalars { f_bytes: "\373\377" }"#)
    }

    @Test("enums by name or number; unknown numbers print as numbers")
    func enums() throws {
        try expectEncodes(#"{"scalars": {"fEnum": -3}, "repeated": {"rEnum": ["RED", 2, 7]}}"#,
                          as: "scalars { f_enum: BLUE } repeated { r_enum: [RED, GREEN, 7] }")
        try expectPrints("scalars { f_enum: 7 } repeated { r_enum: [RED, 9] }")
        var options = JSONPrintOptions()
        options.alwaysPrintEnumsAsInts = true
        try expectPrints("scalars { f_enum: BLUE } repeated { r_enum: [RED, 9] } enum_map { key: 1 value: GREEN }", options: options)
    }

    static let collectionsText = """
        repeated { r_double: [1.5, -0] r_float: [0.25] r_int64: [-1, 5] r_uint64: [18446744073709551615] r_int32: [1, -2]
          r_fixed64: [3] r_fixed32: [4] r_bool: [true, false] r_string: ["a", ""] r_bytes: ["\\001", ""] r_uint32: [6]
          r_enum: [RED, COLOR_UNSPECIFIED] r_sfixed32: [-8] r_sfixed64: [-9] r_sint32: [-10] r_sint64: [-11]
          r_unpacked: [12, 13] r_message { f_int32: 1 } r_message { } }
        str_map { key: "b" value: 2 } str_map { key: "a" value: 0 }
        int_map { key: -5 value: "neg" } int_map { key: 10 value: "" }
        bool_map { key: true value { id: 1 deeper { leaf: "x" } } } bool_map { key: false value { } }
        enum_map { key: 4294967295 value: BLUE }
        inner { id: 3 deeper { leaf: "deep" } tags: ["t1", "t2"] }
        """

    @Test("repeated fields, maps and nested messages encode as protoc")
    func collectionsEncode() throws {
        try expectEncodes("""
            {"repeated": {"rDouble": [1.5, -0], "rFloat": [0.25], "rInt64": ["-1", 5], "rUint64": ["18446744073709551615"],
              "rInt32": [1, -2], "rFixed64": ["3"], "rFixed32": [4], "rBool": [true, false], "rString": ["a", ""],
              "rBytes": ["AQ==", ""], "rUint32": [6], "rEnum": ["RED", "COLOR_UNSPECIFIED"], "rSfixed32": [-8],
              "rSfixed64": ["-9"], "rSint32": [-10], "rSint64": ["-11"], "rUnpacked": [12, 13],
              "rMessage": [{"fInt32": 1}, {}]},
             "strMap": {"b": 2, "a": 0}, "intMap": {"-5": "neg", "10": ""},
             "boolMap": {"true": {"id": 1, "deeper": {"leaf": "x"}}, "false": {}},
             "enumMap": {"4294967295": "BLUE"},
             "inner": {"id": 3, "deeper": {"leaf": "deep"}, "tags": ["t1", "t2"]}}
            """, as: Self.collectionsText)
    }

    @Test("repeated fields, maps and nested messages print as json_format")
    func collectionsPrint() throws {
        try expectPrints(Self.collectionsText)
    }

    @Test("map entries print in wire order as Envoy prints them, a repeated key keeps its last value")
    func mapOrder() throws {
        let bytes = try Protoc.encode("ferry.test.Kitchen", """
            int_map { key: 10 value: "ten" } int_map { key: -2 value: "minus" } int_map { key: 10 value: "TEN" }
            str_map { key: "b" value: 1 } str_map { key: "B" value: 2 } str_map { key: "a" value: 3 }
            """)
        let json = try config.json(message: bytes, type: "ferry.test.Kitchen").text
        #expect(json == #"{"strMap":{"b":1,"B":2,"a":3},"intMap":{"10":"TEN","-2":"minus"}}"#)
    }

    @Test("oneofs, proto3 optional presence and json_name")
    func presence() throws {
        try expectEncodes(#"{"choiceNumber": 0, "optInt": 0, "optString": "", "renamed": "r"}"#,
                          as: #"choice_number: 0 opt_int: 0 opt_string: "" custom_json: "r""#)
        try expectEncodes(#"{"choiceInner": {}, "custom_json": "p", "scalars": {"fInt32": 0, "fString": ""}}"#,
                          as: #"choice_inner { } custom_json: "p" scalars { }"#, exactBytes: false)
        try expectEncodes(#"{"choiceText": null, "choiceNumber": 4, "optInt": null}"#, as: "choice_number: 4")
        try expectPrints(#"choice_number: 0 opt_int: 0 opt_string: "" custom_json: "r" scalars { }"#)
        try expectPrints("choice_inner { }")
    }

    @Test("print options: always print primitive fields, proto field names, whitespace")
    func printOptions() throws {
        var options = JSONPrintOptions()
        options.alwaysPrintPrimitiveFields = true
        try expectPrints("scalars { } repeated { } inner { }", options: options)
        try expectPrints("", type: "ferry.test.Book", options: options)
        options.preserveProtoFieldNames = true
        try expectPrints(Self.collectionsText, options: options)
        let bytes = try Protoc.encode("ferry.test.Book", #"id: 1 tags: ["a"]"#)
        var whitespace = TranscoderOptions()
        whitespace.printOptions.addWhitespace = true
        let pretty = try TranscoderConfig(pool: config.pool, services: [], options: whitespace).json(message: bytes, type: "ferry.test.Book")
        #expect(pretty.text == "{\n \"id\": \"1\",\n \"tags\": [\n  \"a\"\n ]\n}\n")
    }

    @Test("mutated JSON bodies and query strings never crash the request builder")
    func fuzzRequests() throws {
        let match = try #require(config.match(method: "POST", path: "/v1/kitchen"))
        let get = try #require(config.match(method: "GET", path: "/v1/shelves/1/books/2"))
        let seed = Array(#"{"scalars":{"fInt64":"-5","fFloat":1.5,"fBytes":"AQ==","fEnum":"RED"},"strMap":{"a":1},"intMap":{"-1":"x"},"timestamp":"2001-01-01T00:00:00Z","duration":"1.5s","fieldMask":"a.b","struct":{"k":[1,null,{"z":true}]},"any":{"@type":"type.googleapis.com/ferry.test.Book","id":"1"},"wInt32":3,"repeated":{"rInt32":[1,2],"rMessage":[{}]}}"#.utf8)
        let querySeed = Array("name=a%20b&ids=1&ids=2&filter.pages=3&filter.published=2001-01-01T00:00:00Z&color=RED&include_reviews=t".utf8)
        let alphabet = Array(#"{}[]":,0123456789-.eE tfnrul"\%&=+"#.utf8)
        var rng = SplitMix(seed: 99)
        var accepted = 0
        for i in 0..<3000 {
            var bytes = i % 2 == 0 ? seed : querySeed
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                let b = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                if rng.next() % 2 == 0 { bytes[at] = b } else { bytes.insert(b, at: at) }
            }
            do {
                if i % 2 == 0 {
                    _ = try config.requestMessage(match, query: "", body: bytes)
                } else {
                    _ = try config.requestMessage(get, query: bytes.text, body: [])
                }
                accepted += 1
            } catch let error as TranscodingError {
                #expect(!error.message.isEmpty)
            }
        }
        #expect(accepted > 100 && accepted < 2900, "accepted \(accepted)")
    }

    @Test("output is deterministic: the same message prints the same bytes")
    func deterministic() throws {
        let bytes = try Protoc.encode("ferry.test.Kitchen", Self.collectionsText + Self.allScalarsText)
        let first = try config.json(message: bytes, type: "ferry.test.Kitchen")
        for _ in 0..<5 { #expect(try config.json(message: bytes, type: "ferry.test.Kitchen") == first) }
        // And JSON → bytes → JSON is stable.
        let again = try config.json(message: config.message(json: first, type: "ferry.test.Kitchen"), type: "ferry.test.Kitchen")
        #expect(again == first)
    }
}
