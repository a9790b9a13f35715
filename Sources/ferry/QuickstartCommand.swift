import ArgumentParser
import FerryAdmin
import FerryConfig
import FerryProxy
import FerryTestKit
import Logging
import NIOCore

/// `ferry quickstart`: three echo upstreams and a proxy on examples/quickstart.yaml, with the
/// curl commands to try.
struct QuickstartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "quickstart",
                                                    abstract: "Start three echo upstreams and a proxy, and print commands to try.")

    @Option(name: [.customShort("c"), .customLong("config-path")], help: "Quickstart config.")
    var configPath = "examples/quickstart.yaml"

    @Flag(name: .long, help: "Start, check that every route answers, then exit (for scripts and CI).")
    var check = false

    func run() async throws {
        let levels = LogLevels(default: .warning)
        let output = try LogOutput(path: nil)
        LoggingSystem.bootstrap { label in FerryLogHandler(component: label, levels: levels, output: output) }
        let loaded: LoadedConfig
        switch ConfigLoader.load(path: configPath, configYAML: nil) {
        case .success(let c): loaded = c
        case .failure(let errors):
            printError(errors.description + "\n(run `ferry quickstart` from the repository root, or pass -c PATH)")
            throw ExitCode(1)
        }
        var upstreams: [EchoServer] = []
        for (name, port) in [("api", 8081), ("shop-v1", 8082), ("shop-v2", 8083)] {
            do {
                upstreams.append(try await EchoServer.start(name: name, port: port))
            } catch {
                printError("ferry quickstart: cannot listen on 127.0.0.1:\(port) for the \(name) upstream (\(error)); stop whatever uses it")
                throw ExitCode(1)
            }
        }
        print("echo upstreams: api on :8081, shop-v1 on :8082, shop-v2 on :8083")
        let version = Ferry.configuration.version
        let options = ProxyOptions(concurrency: 2, configPath: configPath, logger: Logger(label: "main"))
        let stop = StopSignal()
        let runner = Task {
            try await ServeRunner.serve(loaded, options: options, levels: levels, commandLine: [("config_path", JSONText.quote(configPath))],
                                        version: version, stop: stop)
        }
        try await Task.sleep(for: .milliseconds(500))
        print("""

        Ferry is running: listener on 127.0.0.1:10000, admin on 127.0.0.1:9901. Try:

          curl -s localhost:10000/health                # answered by Ferry (direct_response)
          curl -s localhost:10000/api/users/42          # prefix route to the api service
          for i in $(seq 20); do curl -s localhost:10000/shop | grep -o '"name":"[^"]*"'; done | sort | uniq -c
                                                        # weighted split: about 16 shop-v1, 4 shop-v2
          curl -s localhost:10000/nowhere -o /dev/null -w '%{http_code}\\n'   # 404: no route (flag NR)
          curl -s localhost:9901/stats | grep -E 'downstream_rq_(total|2xx)|upstream_rq_total'
          curl -s localhost:9901/clusters
          curl -s localhost:9901/stats/prometheus | head

        Each request is logged below in Envoy's access log format. Press Ctrl-C to stop.

        """)
        if check {
            try await QuickstartCheck.run()
            print("quickstart check passed")
            stop.trigger("quickstart check finished")
        }
        _ = try await runner.value
        for u in upstreams { await u.stop() }
    }
}
