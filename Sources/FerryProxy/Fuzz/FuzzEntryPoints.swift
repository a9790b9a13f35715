import FerryConfig
import FerryTelemetry
import Logging
import NIOCore
import NIOEmbedded

#if canImport(Glibc)
import Glibc
#endif

/// Entry points for coverage-guided fuzzing (libFuzzer, `scripts/fuzz`) and for replaying the
/// fuzz corpus in the test suite. Each takes arbitrary bytes and must never crash or hang.
public enum FerryFuzz {
    /// The HTTP/1 front door: bytes from a client into a real `DownstreamHTTP1Handler` (parser,
    /// connection manager, routing, local replies) on an EmbeddedChannel. The first byte picks
    /// how the rest is split into reads, so framing is exercised across read boundaries.
    public static func http1FrontDoor(_ data: [UInt8]) {
        guard let generation = frontDoorGeneration else { return }
        let loop = EmbeddedEventLoop()
        let worker = Worker(index: 0, workerCount: 1, loop: loop, generation: generation, store: frontDoorStore,
                            server: ServerState(startUptimeNanos: 0, startWallSeconds: 0), logger: Logger(label: "fuzz"))
        worker.install(generation, hosts: [:])
        let listener = generation.listeners[0]
        guard let chain = listener.chains.first, let hcm = chain.hcm else { return }
        let channel = EmbeddedChannel(handler: DownstreamHTTP1Handler(worker: worker, listener: listener, chain: chain, hcm: hcm), loop: loop)
        _ = try? channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let step = max(1, Int(data.first ?? 0))
        var offset = data.isEmpty ? 0 : 1
        while offset < data.count, channel.isActive {
            let end = min(data.count, offset + step)
            _ = try? channel.writeInbound(ByteBuffer(bytes: data[offset..<end]))
            loop.run()  // the end of the iteration: deferred flushes
            while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
            offset = end
        }
        loop.advanceTime(by: .seconds(120))
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
        _ = try? channel.finish()
    }

    /// The upstream side: arbitrary bytes as an upstream's response to GET and HEAD requests.
    public static func http1Response(_ data: [UInt8]) {
        for method in ["GET", "HEAD"] {
            var parser = HTTP1Parser(role: .client)
            parser.pendingRequestMethod = method
            var buffer = ByteBuffer(bytes: data)
            var events = 0
            while events < 10_000 {
                guard let event = try? parser.next(&buffer) else { break }
                events += 1
                if case .end = event, parser.isIdle { parser.pendingRequestMethod = method }
            }
            _ = try? parser.endOfInput()
        }
    }

    /// Config decoding: arbitrary text as a bootstrap file, through validation and compilation.
    public static func config(_ data: [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        guard case .success(let loaded) = ConfigLoader.load(yaml: text, file: "fuzz.yaml") else { return }
        _ = GenerationCompiler.compile(loaded, id: 1, store: StatsStore())
    }

    /// The targets by name, as `scripts/fuzz` and the corpus replay test use them.
    public static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "http1": { http1FrontDoor($0); http1Response($0) },
        "config": { config($0) },
    ]

    /// The inputs in `paths`: files, or every non-hidden file in a directory, sorted by path.
    public static func inputs(_ paths: [String]) -> [(path: String, bytes: [UInt8])] {
        var files: [String] = []
        for path in paths {
            if let dir = opendir(path) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) {
                        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    if !name.hasPrefix(".") { files.append(path + "/" + name) }
                }
                closedir(dir)
            } else {
                files.append(path)
            }
        }
        return files.sorted().compactMap { file in
            guard let f = fopen(file, "rb") else { return nil }
            defer { fclose(f) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&chunk, 1, chunk.count, f)
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
            return (file, bytes)
        }
    }

    /// The `main` of the fuzz binaries: under `scripts/fuzz` (`-sanitize=fuzzer -DFUZZING`) it
    /// hands `target` to libFuzzer's driver; in a normal build it replays the files (or
    /// directories) named on the command line, so a saved crash reproduces without libFuzzer.
    public static func main(_ target: String) -> Never {
        #if FUZZING
        fuzzTarget = targets[target]
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
        #else
        replayMain(target)
        exit(0)
        #endif
    }

    /// The replay `main` of a fuzz binary built without libFuzzer: runs `target` on every input
    /// named on the command line, so a crash the fuzzer saved reproduces with the plain binary.
    public static func replayMain(_ target: String) {
        guard let run = targets[target] else { return }
        let inputs = inputs(Array(CommandLine.arguments.dropFirst()))
        // FERRY_FUZZ_REPEAT=N runs the first input N times and reports the resident set every
        // 10 000 runs: a leak per connection shows as steady growth.
        if let text = getenv("FERRY_FUZZ_REPEAT"), let count = Int(String(cString: text)), let first = inputs.first {
            for i in 0..<count {
                run(first.bytes)
                if i % 10_000 == 0 { print("run \(i): resident \(residentKiB()) KiB") }
            }
            return
        }
        for input in inputs {
            print("replaying \(input.path)")
            run(input.bytes)
        }
        print("replayed \(inputs.count) input(s) through \(target)")
    }

    /// Resident set size from /proc/self/statm (Linux), in KiB.
    static func residentKiB() -> Int {
        guard let f = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 128)
        guard fgets(&line, Int32(line.count), f) != nil else { return 0 }
        let bytes = line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024 : 0
    }

    static let frontDoorStore = StatsStore()
    static let frontDoorGeneration: ConfigGeneration? = {
        let yaml = """
        static_resources:
          listeners:
          - name: fuzz
            address: {socket_address: {address: 127.0.0.1, port_value: 0}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: fuzz
                  normalize_path: true
                  merge_slashes: true
                  path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT
                  request_headers_timeout: 10s
                  http_protocol_options: {accept_http_10: true}
                  local_reply_config:
                    mappers:
                    - filter: {status_code_filter: {comparison: {op: GE, value: {default_value: 400, runtime_key: k}}}}
                      body_format_override: {json_format: {status: "%RESPONSE_CODE%", path: "%REQ(:PATH)%"}}
                  route_config:
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: {safe_regex: {regex: "/re/[a-z]+"}}
                        direct_response: {status: 200, body: {inline_string: re}}
                      - match: {prefix: "/redirect"}
                        redirect: {prefix_rewrite: "/moved", https_redirect: true}
                      - match: {prefix: "/empty"}
                        route: {cluster: empty, retry_policy: {retry_on: 5xx, num_retries: 2}}
                      - match: {prefix: "/", headers: [{name: x-h, present_match: true}]}
                        direct_response: {status: 201, body: {inline_string: h}}
                      - match: {prefix: "/"}
                        direct_response: {status: 200, body: {inline_string: ok}}
          clusters:
          - name: empty
            type: STRICT_DNS
            load_assignment: {cluster_name: empty, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: unresolvable.invalid, port_value: 80}}}}]}]}
        """
        guard case .success(let loaded) = ConfigLoader.load(yaml: yaml) else { return nil }
        return try? GenerationCompiler.compile(loaded, id: 1, store: frontDoorStore).get()
    }()
}

#if FUZZING
/// The target `FerryFuzz.main` chose for this process.
nonisolated(unsafe) private var fuzzTarget: (@Sendable ([UInt8]) -> Void)?

/// libFuzzer's input callback (also its conventional symbol, in case its own `main` is linked).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzTarget?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// libFuzzer's entry for programs that keep their own `main` (SwiftPM renames an executable's
/// entry point, so libFuzzer's `main` cannot be used directly).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif
