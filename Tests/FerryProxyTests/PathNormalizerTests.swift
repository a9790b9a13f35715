import FerryConfig
import Testing

@testable import FerryProxy

/// Reference: Envoy's `normalize_path`, `merge_slashes` and `path_with_escaped_slashes_action`
/// (HttpConnectionManager docs), implemented by `ConnectionManagerUtility::maybeNormalizePath`
/// (unescape slashes, then `PathUtil::canonicalPath`, then `PathUtil::mergeSlashes`). The pairs
/// marked "Envoy" come from envoy/test/common/http/path_utility_test.cc.
@Suite("PathNormalizer")
struct PathNormalizerTests {
    typealias Action = HttpConnectionManager.EscapedSlashesAction

    func normalized(_ path: String, merge: Bool = false, slashes: Action = .keepUnchanged) -> PathNormalizer.Outcome {
        PathNormalizer.apply(path, normalize: true, mergeSlashes: merge, escapedSlashes: slashes)
    }

    @Test(
        "RFC 3986 dot segments are removed as Envoy's canonicalPath does",
        arguments: [
            ("/a/b/../c", "/a/c"), ("/a/b/./c", "/a/b/c"), ("/a/b/../../../../c", "/c"),  // Envoy
            ("/a/..\\c", "/c"), ("/a/b/%2E%2E/c", "/a/c"), ("/a/b/%2e%2e/c", "/a/c"),  // Envoy
            ("/a/b/%2E./c", "/a/c"), ("/a/b/%2E/c", "/a/b/c"), ("/../a/b", "/a/b"), ("/./a/b", "/a/b"),  // Envoy
            ("/a/b/.", "/a/b/"), ("/a/b/..", "/a/"), ("/.", "/"), ("/..", "/"), ("/a\\b\\c", "/a/b/c"),
        ])
    func dotSegments(path: String, expected: String) {
        #expect(normalized(path) == .rewritten(expected))
    }

    @Test(
        "an already normal path is unchanged",
        arguments: ["/xyz", "/x/y/z", "/A/B/C", "/", "/a/b/", "/a%2Fb", "/a%3A", "/a/.../b", "/a/..b/.c"])
    func alreadyNormal(path: String) {
        #expect(normalized(path) == .unchanged)  // the first three: Envoy
    }

    @Test("percent-escapes of unreserved characters are decoded, others stay escaped")
    func unreservedDecoding() {
        #expect(normalized("/%41%62%2D%5F%7E%30") == .rewritten("/Ab-_~0"))
        #expect(normalized("/a%20b%3Fc%23d%25e%2Ff") == .unchanged)
    }

    @Test("escapes of other characters keep their hex case, as Envoy does")
    func escapeCaseKept() {
        #expect(normalized("/%c0%af") == .unchanged)  // Envoy
        #expect(normalized("/%5c%25") == .unchanged)  // Envoy
        #expect(normalized("/a/%2F%2f/c") == .unchanged)  // Envoy
    }

    @Test("an invalid percent sequence passes through, as Envoy's canonicalPath does")
    func invalidEscapePassesThrough() {
        // All checked against Envoy 1.40 with normalize_path: true.
        #expect(normalized("/100%") == .unchanged)
        #expect(normalized("/a%") == .unchanged)
        #expect(normalized("/a%0") == .unchanged)
        #expect(normalized("/a%zz/./b") == .rewritten("/a%zz/b"))
        #expect(normalized("/a%0/./b") == .rewritten("/a%0/b"))
    }

    @Test("dot segments carrying parameters (`..;x`) are removed, as Envoy's normalize_path does")
    func dotSegmentsWithParameters() {
        // Checked against Envoy 1.40: only literal dots count, split on `/` only.
        #expect(normalized("/a/b/..;x;y/c") == .rewritten("/a/c"))
        #expect(normalized("/a/..;") == .rewritten("/"))
        #expect(normalized("/a/%2e%2e;x/b") == .rewritten("/a/..;x/b"))
        #expect(normalized("/a/...;x/b") == .unchanged)
        #expect(normalized("/a/.%3b/b") == .unchanged)
        #expect(normalized("/;/b") == .unchanged)
        #expect(normalized("/a\\..;x\\b") == .rewritten("/a/..;x/b"))
        #expect(normalized("/xyz/..;foo=bar/abc") == .rewritten("/abc"))  // Envoy
        #expect(normalized("/xyz/.;foo=bar") == .rewritten("/xyz/"))  // Envoy
        #expect(normalized("/xyz/..;foo=bar/.;fff=zzz?blah=woops") == .rewritten("/?blah=woops"))  // Envoy
    }

    @Test(
        "%00 is rejected",
        arguments: [
            "/xyz/.%00../abc", "/xyz/%00.%00./abc", "/xyz/AAAAA%%0000/abc",
            "/a%00",
        ])
    func rejectedEscapes(path: String) {
        #expect(normalized(path) == .reject)  // the first three: Envoy's InvalidPaths
    }

    @Test("the query is never normalized")
    func queryUntouched() {
        #expect(normalized("/a/./b/../c?x=/../%41&y=..//%2f") == .rewritten("/a/c?x=/../%41&y=..//%2f"))
        #expect(normalized("/a?%00") == .unchanged)
    }

    @Test(
        "merge_slashes collapses repeated slashes in the path only",
        arguments: [
            ("//a/b/c", "/a/b/c"), ("/a//b/c", "/a/b/c"), ("/a/b/c//", "/a/b/c/"), ("/a///b/c", "/a/b/c"),
            ("/a////b/c", "/a/b/c"), ("/a//b?a=///c", "/a/b?a=///c"),  // Envoy
            ("/a//b?", "/a/b?"), ("//a/?b", "/a/?b"),  // Envoy
        ])
    func mergeSlashes(path: String, expected: String) {
        #expect(
            PathNormalizer.apply(path, normalize: false, mergeSlashes: true, escapedSlashes: .keepUnchanged)
                == .rewritten(expected))
    }

    @Test("slashes are merged after dot segments are removed")
    func mergeAfterNormalize() {
        #expect(normalized("/a//..//b", merge: true) == .rewritten("/a/b"))
    }

    @Test(
        "KEEP_UNCHANGED and the default leave %2F and %5C alone",
        arguments: [Action.keepUnchanged, .implementationSpecificDefault])
    func keepEscapedSlashes(action: Action) {
        #expect(
            PathNormalizer.apply("/a%2Fb%5Cc", normalize: false, mergeSlashes: false, escapedSlashes: action)
                == .unchanged)
    }

    @Test(
        "REJECT_REQUEST refuses %2F and %5C in any case, but not in the query",
        arguments: ["/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb"])
    func rejectEscapedSlashes(path: String) {
        #expect(
            PathNormalizer.apply(path, normalize: false, mergeSlashes: false, escapedSlashes: .rejectRequest) == .reject
        )
        #expect(
            PathNormalizer.apply("/a?b=\(path)", normalize: false, mergeSlashes: false, escapedSlashes: .rejectRequest)
                == .unchanged)
    }

    @Test(
        "UNESCAPE_AND_FORWARD decodes %2F to / and %5C to \\ in the path only",
        arguments: [
            ("/a%2Fb%2fc/", "/a/b/c/"), ("/a%5Cb%5cc/", "/a\\b\\c/"),  // Envoy
            ("/%%2fa/", "/%/a/"), ("/%2%2fa/", "/%2/a/"),  // Envoy
            ("/%2fa%5Cb%2fc%5c?%2fabcd%5C%%2f%", "//a\\b/c\\?%2fabcd%5C%%2f%"),  // Envoy (query untouched)
        ])
    func unescapeAndForward(path: String, expected: String) {
        #expect(
            PathNormalizer.apply(path, normalize: false, mergeSlashes: false, escapedSlashes: .unescapeAndForward)
                == .rewritten(expected))
    }

    @Test("UNESCAPE_AND_FORWARD then normalize then merge, in Envoy's order")
    func unescapeThenNormalize() {
        // Envoy's unescape vector "/x/%2E%2e/z%2f%2Fabc%5C../def", then canonicalPath and mergeSlashes.
        #expect(
            normalized("/x/%2E%2e/z%2f%2Fabc%5C../def", merge: true, slashes: .unescapeAndForward)
                == .rewritten("/z/def"))
        #expect(normalized("/a%2F..%2Fb", slashes: .unescapeAndForward) == .rewritten("/b"))
    }

    @Test("UNESCAPE_AND_REDIRECT redirects to the unescaped, normalized path only when it found an escaped slash")
    func unescapeAndRedirect() {
        #expect(normalized("/a%2Fb", slashes: .unescapeAndRedirect) == .redirect("/a/b"))
        #expect(
            normalized("/a%2F%2F..%2Fb?q=%2F", merge: true, slashes: .unescapeAndRedirect) == .redirect("/a/b?q=%2F"))
        #expect(normalized("/a/./b", slashes: .unescapeAndRedirect) == .rewritten("/a/b"))
        #expect(normalized("/a/b", slashes: .unescapeAndRedirect) == .unchanged)
    }

    @Test("paths that are not origin-form are left alone", arguments: ["*", "", "http://x/../a"])
    func notOriginForm(path: String) {
        #expect(
            PathNormalizer.apply(path, normalize: true, mergeSlashes: true, escapedSlashes: .rejectRequest)
                == .unchanged)
    }
}
