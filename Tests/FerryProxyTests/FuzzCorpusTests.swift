import FerryProxy
import Testing

/// Replays the fuzz corpus (Fuzz/corpus/<target>/) through the same entry points libFuzzer drives
/// (`scripts/fuzz`). Every crash the fuzzer ever found is kept there as a regression test; a
/// crash here takes the test process down, which fails the run.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpusRoot: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path + "/Fuzz/corpus"
    }()

    @Test("every corpus input runs through its target", arguments: ["http1", "config"])
    func replay(target: String) throws {
        let run = try #require(FerryFuzz.targets[target])
        let inputs = FerryFuzz.inputs([Self.corpusRoot + "/" + target])
        #expect(!inputs.isEmpty, "no corpus in \(Self.corpusRoot)/\(target)")
        for input in inputs { run(input.bytes) }
    }
}
