import Testing

@testable import FerryProxy

@Suite("HeaderMap")
struct HeaderMapTests {
    var sample: HeaderMap {
        var map = HeaderMap()
        map.add("Accept", "text/html")
        map.add("X-Multi", "one")
        map.add("Cookie", "a=1")
        map.add("x-multi", "two")
        map.add("X-MULTI", "three")
        return map
    }

    @Test("names are lower-cased on the way in and order is kept")
    func lowerCasedInOrder() {
        #expect(sample.lines == ["accept: text/html", "x-multi: one", "cookie: a=1", "x-multi: two", "x-multi: three"])
        #expect(HeaderMap([("A-B", "1"), ("c", "2")]).lines == ["a-b: 1", "c: 2"])
        let literal: HeaderMap = ["Content-Type": "x"]
        #expect(literal.lines == ["content-type: x"])
    }

    @Test("first, values, joined and contains look names up exactly (lower-case)")
    func lookups() {
        let map = sample
        #expect(map.first("x-multi") == "one")
        #expect(map.values("x-multi") == ["one", "two", "three"])
        #expect(map.joined("x-multi") == "one,two,three")
        #expect(map.joined("accept") == "text/html")
        #expect(map.first("missing") == nil)
        #expect(map.values("missing") == [])
        #expect(map.joined("missing") == nil)
        #expect(map.contains("cookie"))
        #expect(!map.contains("Cookie"))
        #expect(map.count == 5)
    }

    @Test("set replaces every field of a name with one, kept at the first one's position")
    func setKeepsFirstPosition() {
        var map = sample
        map.set("X-Multi", "only")
        #expect(map.lines == ["accept: text/html", "x-multi: only", "cookie: a=1"])
        map.set("new", "appended")
        #expect(map.lines == ["accept: text/html", "x-multi: only", "cookie: a=1", "new: appended"])
    }

    @Test("remove drops every field of a name and says whether there was one")
    func remove() {
        var map = sample
        let removed = map.remove("x-multi")
        #expect(removed)
        #expect(map.lines == ["accept: text/html", "cookie: a=1"])
        let removedAgain = map.remove("x-multi")
        #expect(!removedAgain)
        map.removeAll { $0.value == "a=1" }
        #expect(map.lines == ["accept: text/html"])
    }

    @Test("remove(anyOf:) drops every field of each listed name in one pass and keeps the rest in order")
    func removeAnyOf() {
        var map: HeaderMap = ["Connection": "close", "Accept": "*/*", "keep-alive": "5", "accepts": "x",
                              "CONNECTION": "upgrade", "upgrade": "websocket"]
        map.remove(anyOf: ["connection", "keep-alive", "upgrade"])
        #expect(map.lines == ["accept: */*", "accepts: x"])
        // Same-length names that differ, and names that are prefixes, stay.
        map.remove(anyOf: ["accepx", "accep", "acceptt"])
        #expect(map.lines == ["accept: */*", "accepts: x"])
        map.remove(anyOf: [])
        #expect(map.lines == ["accept: */*", "accepts: x"])
    }

    @Test("addLowercased keeps the name as given")
    func addLowercased() {
        var map = HeaderMap()
        map.addLowercased("x-a", "1")
        map.add("X-A", "2")
        #expect(map.values("x-a") == ["1", "2"])
    }

    @Test("hasToken finds a token in comma lists across fields, with odd spacing and any case")
    func hasToken() {
        var map = HeaderMap()
        map.add("Connection", " Keep-Alive ,\tUPGRADE\t")
        map.add("connection", "x-custom")
        #expect(map.hasToken("connection", "keep-alive"))
        #expect(map.hasToken("connection", "upgrade"))
        #expect(map.hasToken("connection", "x-custom"))
        #expect(!map.hasToken("connection", "close"))
        #expect(!map.hasToken("upgrade", "upgrade"))
    }

    @Test(
        "headerValue(_:containsToken:) matches whole list elements only",
        arguments: [
            ("close", "close", true), ("CLOSE", "close", true), ("Close, keep-alive", "keep-alive", true),
            ("a,,  close  ,", "close", true), ("\tclose", "close", true), ("closed", "close", false),
            ("enclose", "close", false), ("close-x, y", "close", false), ("", "close", false), (",", "close", false),
            ("keep-alive", "alive", false), ("c lose", "close", false), ("trailers, deflate;q=0.5", "trailers", true),
        ])
    func containsToken(value: String, token: String, expected: Bool) {
        #expect(headerValue(value, containsToken: token) == expected)
    }

    @Test("wireSize counts name, colon, space, value and CRLF of each field")
    func wireSize() {
        let map: HeaderMap = ["ab": "cde"]
        #expect(map.wireSize == 9)
        #expect(HeaderMap().wireSize == 0)
        #expect(sample.wireSize == sample.lines.reduce(0) { $0 + $1.utf8.count + 2 })
    }

    @Test("singleContentLength takes the fast path only for one plain decimal length")
    func singleContentLength() {
        #expect((["content-length": "42"] as HeaderMap).singleContentLength == 42)
        #expect((["content-length": "4 2"] as HeaderMap).singleContentLength == nil)
        #expect((["content-length": ""] as HeaderMap).singleContentLength == nil)
        #expect(HeaderMap([("content-length", "1"), ("content-length", "1")]).singleContentLength == nil)
        #expect(HeaderMap([("content-length", "1"), ("transfer-encoding", "chunked")]).singleContentLength == nil)
        #expect((["content-length": String(repeating: "9", count: 19)] as HeaderMap).singleContentLength == nil)
        #expect(HeaderMap().singleContentLength == nil)
    }
}
