import Testing

@testable import FerryGRPC

@Suite("Well-known types in JSON")
struct WellKnownTypeTests {
    let config: TranscoderConfig
    let mapping: JSONMappingTests

    init() throws {
        mapping = try JSONMappingTests()
        config = mapping.config
    }

    @Test("Timestamp: RFC 3339 with 0, 3, 6 or 9 fraction digits, offsets accepted on input")
    func timestamp() throws {
        try mapping.expectEncodes(#"{"timestamp": "1972-01-01T10:00:20.021Z"}"#, as: "timestamp { seconds: 63108020 nanos: 21000000 }")
        try mapping.expectEncodes(#"{"timestamp": "1970-01-01T01:00:00.5+01:00"}"#, as: "timestamp { nanos: 500000000 }")
        try mapping.expectEncodes(#"{"timestamp": "0001-01-01T00:00:00Z"}"#, as: "timestamp { seconds: -62135596800 }")
        try mapping.expectEncodes(#"{"timestamp": "9999-12-31T23:59:59.999999999z"}"#,
                                  as: "timestamp { seconds: 253402300799 nanos: 999999999 }")
        try mapping.expectEncodes(#"{"timestamp": "1969-12-31T23:59:59.000001-00:30"}"#, as: "timestamp { seconds: 1799 nanos: 1000 }")
        for text in ["timestamp { seconds: 63108020 nanos: 21000000 }", "timestamp { seconds: -1 nanos: 1000 }",
                     "timestamp { seconds: 1 nanos: 1 }", "timestamp { }", "timestamp { seconds: 951782400 }",
                     "timestamp { seconds: -62135596800 }"] {
            try mapping.expectPrints(text)
        }
    }

    @Test("Timestamp errors", arguments: [
        "1972-01-01T10:00:20Q", "1972-13-01T10:00:20Z", "1972-02-30T10:00:20Z", "1972-01-01 10:00:20Z",
        "1972-01-01T10:00:20.Z", "1972-01-01T10:00:20.0123456789Z", "10000-01-01T00:00:00Z", "0000-12-31T23:59:59Z",
        "1972-01-01T10:00:20+1:00",
    ])
    func timestampErrors(text: String) {
        #expect(throws: TranscodingError.self) { try config.message(json: #"{"timestamp": "\#(text)"}"#.bytes, type: "ferry.test.Kitchen") }
    }

    @Test("Duration: seconds with up to nine fraction digits and an s")
    func duration() throws {
        try mapping.expectEncodes(#"{"duration": "1.000340012s"}"#, as: "duration { seconds: 1 nanos: 340012 }")
        try mapping.expectEncodes(#"{"duration": "-0.5s"}"#, as: "duration { nanos: -500000000 }")
        try mapping.expectEncodes(#"{"duration": "315576000000s"}"#, as: "duration { seconds: 315576000000 }")
        for text in ["duration { seconds: 1 nanos: 340012 }", "duration { seconds: -3 nanos: -100000000 }",
                     "duration { nanos: -1000 }", "duration { }"] {
            try mapping.expectPrints(text)
        }
        for bad in ["1", "1.s", "s", "1.0000000001s", "315576000001s", "+1s", "1.5 s", "--1s"] {
            #expect(throws: TranscodingError.self) { try config.message(json: #"{"duration": "\#(bad)"}"#.bytes, type: "ferry.test.Kitchen") }
        }
        let mixedSigns = try Protoc.encode("ferry.test.Kitchen", "duration { seconds: 1 nanos: -1 }")
        #expect(throws: TranscodingError.self) { try config.json(message: mixedSigns, type: "ferry.test.Kitchen") }
    }

    @Test("FieldMask: comma-separated lowerCamel paths")
    func fieldMask() throws {
        try mapping.expectEncodes(#"{"fieldMask": "scalars.fInt32,inner,strMap"}"#,
                                  as: #"field_mask { paths: ["scalars.f_int32", "inner", "str_map"] }"#)
        try mapping.expectEncodes(#"{"fieldMask": ""}"#, as: "field_mask { }")
        try mapping.expectPrints(#"field_mask { paths: ["scalars.f_int32", "a.b_c"] }"#)
        #expect(throws: TranscodingError.self) { try config.message(json: #"{"fieldMask": "a_b"}"#.bytes, type: "ferry.test.Kitchen") }
        let unprintable = try Protoc.encode("ferry.test.Kitchen", #"field_mask { paths: ["a__b"] }"#)
        #expect(throws: TranscodingError.self) { try config.json(message: unprintable, type: "ferry.test.Kitchen") }
    }

    @Test("Struct, Value, ListValue and NullValue are plain JSON")
    func structs() throws {
        try mapping.expectEncodes("""
            {"struct": {"n": 1.5, "s": "x", "b": true, "z": null, "o": {"l": [1, "a", null, [], {}]}},
             "value": null, "listValue": [false], "nullValue": null, "values": [1, null], "valueMap": {"k": "v"}}
            """, as: """
            struct { fields { key: "n" value { number_value: 1.5 } } fields { key: "s" value { string_value: "x" } }
              fields { key: "b" value { bool_value: true } } fields { key: "z" value { null_value: NULL_VALUE } }
              fields { key: "o" value { struct_value { fields { key: "l" value { list_value {
                values { number_value: 1 } values { string_value: "a" } values { null_value: NULL_VALUE }
                values { list_value { } } values { struct_value { } } } } } } } } }
            value { null_value: NULL_VALUE } list_value { values { bool_value: false } }
            values { number_value: 1 } values { null_value: NULL_VALUE } value_map { key: "k" value { string_value: "v" } }
            """, exactBytes: false)  // "nullValue": null is written as 0, as Envoy writes it
        try mapping.expectPrints("""
            struct { fields { key: "n" value { number_value: 1.5 } } fields { key: "z" value { null_value: NULL_VALUE } }
              fields { key: "o" value { struct_value { fields { key: "l" value { list_value { values { string_value: "a" } } } } } } } }
            value { number_value: 3 } list_value { values { bool_value: false } values { struct_value { } } }
            values { null_value: NULL_VALUE } value_map { key: "k" value { list_value { } } }
            """)
        try mapping.expectPrints("value { struct_value { } } struct { }")
        let unset = try Protoc.encode("ferry.test.Kitchen", "value { }")
        #expect(throws: TranscodingError.self) { try config.json(message: unset, type: "ferry.test.Kitchen") }
        let infinite = try Protoc.encode("ferry.test.Kitchen", "value { number_value: inf }")
        #expect(throws: TranscodingError.self) { try config.json(message: infinite, type: "ferry.test.Kitchen") }
    }

    @Test("wrapper types are their value; null leaves them unset")
    func wrappers() throws {
        let json = """
            {"wDouble": 0, "wFloat": "NaN", "wInt64": "-1", "wUint64": 2, "wInt32": 0, "wUint32": 3, "wBool": false,
             "wString": "", "wBytes": "AQI=", "empty": {}}
            """
        try mapping.expectEncodes(json, as: """
            w_double { } w_float { value: nan } w_int64 { value: -1 } w_uint64 { value: 2 } w_int32 { } w_uint32 { value: 3 }
            w_bool { } w_string { } w_bytes { value: "\\001\\002" } empty { }
            """)
        try mapping.expectEncodes(#"{"wInt32": null, "wString": null}"#, as: "")
        try mapping.expectPrints("""
            w_double { } w_float { value: 1.5 } w_int64 { value: -1 } w_uint64 { value: 18446744073709551615 } w_int32 { value: 7 }
            w_uint32 { } w_bool { value: true } w_string { value: "s" } w_bytes { value: "\\001" } empty { }
            """)
    }

    @Test("Any carries @type and the fields, or a value for types with a special form")
    func any() throws {
        try mapping.expectEncodes(#"{"any": {"@type": "type.googleapis.com/ferry.test.Book", "id": "7", "tags": ["x"]}}"#,
                                  as: #"any { type_url: "type.googleapis.com/ferry.test.Book" value: "\010\007*\001x" }"#)
        try mapping.expectEncodes(#"{"any": {"value": "1.5s", "@type": "type.googleapis.com/google.protobuf.Duration"}}"#,
                                  as: #"any { type_url: "type.googleapis.com/google.protobuf.Duration" value: "\010\001\020\200\312\265\356\001" }"#)
        try mapping.expectEncodes(#"{"any": {}}"#, as: "any { }")
        try mapping.expectPrints(#"any { type_url: "type.googleapis.com/ferry.test.Book" value: "\010\007*\001x" }"#)
        try mapping.expectPrints(#"any { type_url: "type.googleapis.com/google.protobuf.Duration" value: "\010\001" }"#)
        try mapping.expectPrints(#"anys { type_url: "type.googleapis.com/google.protobuf.Empty" } anys { type_url: "x/google.protobuf.Int32Value" value: "\010\005" }"#)
        // An Any holding an Any holding a Struct.
        let inner = try Protoc.encode("ferry.test.Kitchen", #"any { type_url: "type.googleapis.com/google.protobuf.Struct" value: "" }"#)
        var r = WireReader(inner)
        _ = try r.readTag()
        let anyBytes = try r.readLengthDelimited()
        var w = WireWriter()
        w.writeTag(1, .lengthDelimited); w.writeLengthDelimited("type.googleapis.com/google.protobuf.Any")
        w.writeTag(2, .lengthDelimited); w.writeLengthDelimited(anyBytes)
        var outer = WireWriter()
        outer.writeTag(27, .lengthDelimited); outer.writeLengthDelimited(w.bytes)
        let printed = try config.json(message: outer.bytes, type: "ferry.test.Kitchen").text
        #expect(printed == #"{"any":{"@type":"type.googleapis.com/google.protobuf.Any","value":{"@type":"type.googleapis.com/google.protobuf.Struct","value":{}}}}"#)
        #expect(try config.message(json: printed.bytes, type: "ferry.test.Kitchen") == outer.bytes)
    }

    @Test("Anys nested deeper than five print as an error, not a deep recursion")
    func anyNesting() throws {
        func wrapped(_ levels: Int) -> [UInt8] {
            var inner: [UInt8] = []
            var url = "type.googleapis.com/google.protobuf.Empty"
            for _ in 0..<levels {
                var w = WireWriter()
                w.writeTag(1, .lengthDelimited); w.writeLengthDelimited(url)
                w.writeTag(2, .lengthDelimited); w.writeLengthDelimited(inner)
                inner = w.bytes
                url = "type.googleapis.com/google.protobuf.Any"
            }
            var outer = WireWriter()
            outer.writeTag(27, .lengthDelimited); outer.writeLengthDelimited(inner)
            return outer.bytes
        }
        let five = try config.json(message: wrapped(5), type: "ferry.test.Kitchen").text
        #expect(five.components(separatedBy: "@type").count == 6)
        let error = #expect(throws: TranscodingError.self) { try config.json(message: wrapped(7), type: "ferry.test.Kitchen") }
        #expect(error?.message.contains("nested deeper than 5") == true)
    }

    @Test("Any errors name the problem", arguments: [
        (#"{"any": {"id": 1}}"#, "@type"),
        (#"{"any": {"@type": "type.googleapis.com/nope.Missing"}}"#, "nope.Missing"),
        (#"{"any": {"@type": "nourl"}}"#, "type URL"),
        (#"{"any": {"@type": "t/google.protobuf.Duration", "seconds": 1}}"#, "\"value\""),
        (#"{"any": {"@type": "t/ferry.test.Book", "bogus": 1}}"#, "bogus"),
    ])
    func anyErrors(json: String, message: String) {
        let error = #expect(throws: TranscodingError.self) { try config.message(json: json.bytes, type: "ferry.test.Kitchen", strict: true) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test("well-known types as the whole message")
    func topLevel() throws {
        #expect(try config.json(message: [], type: "google.protobuf.Empty").text == "{}")
        let ts = try config.message(json: #""2001-02-03T04:05:06Z""#.bytes, type: "google.protobuf.Timestamp")
        #expect(try config.json(message: ts, type: "google.protobuf.Timestamp").text == #""2001-02-03T04:05:06Z""#)
        let v = try config.message(json: #"[1, {"a": null}]"#.bytes, type: "google.protobuf.Value")
        #expect(try config.json(message: v, type: "google.protobuf.Value").text == #"[1,{"a":null}]"#)
    }
}
