import FerryProxy

#if canImport(Glibc)
import Glibc
#endif

// Built by scripts/fuzz (`-sanitize=fuzzer -DFUZZING`) this is a libFuzzer target; in a normal
// build it replays the files (or directories of files) given as arguments, so a crash the fuzzer
// saved can be reproduced with the plain binary.
#if FUZZING
/// libFuzzer's entry for programs that keep their own `main` (SwiftPM renames an executable's
/// entry point, so libFuzzer's `main` cannot be used directly).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The input callback, also exported under libFuzzer's conventional name.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FerryFuzz.targets["config"]!(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@main
struct Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { fuzzOneInput($0, $1) }
        exit(status)
    }
}
#else
@main
struct Replay {
    static func main() { FerryFuzz.replayMain("config") }
}
#endif
