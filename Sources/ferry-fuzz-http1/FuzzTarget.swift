import FerryProxy

// libFuzzer target under scripts/fuzz; a corpus replayer otherwise (see FerryFuzz.main).
@main
struct Fuzz {
    static func main() { FerryFuzz.main("http1") }
}
