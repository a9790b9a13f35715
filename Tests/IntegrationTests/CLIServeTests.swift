import FerryTestKit
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `ferry` binary in serve mode: what it logs, where, with how many workers, and how it stops.
@Suite("ferry command line: serving", .temporaryFiles)
struct CLIServeTests {
    @Test("serve mode logs each listener's real port (for port 0) and the admin address, and both answer")
    func logsBoundAddresses() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        try await FerryBinary.serve(["-c", path, "--concurrency", "1"]) { child, bound in
            let port = try #require(bound.listeners["main"])
            let admin = try #require(bound.admin)
            #expect(port != 0)
            #expect(admin != 0)
            #expect(child.stderr.contains("][info][main] listener main listening on 127.0.0.1:\(port)\n"))
            #expect(child.stderr.contains("][info][main] admin address: 127.0.0.1:\(admin)\n"))
            #expect(try await Curl.fetch("http://127.0.0.1:\(port)/body").body == "from file")
            #expect(try await Curl.fetch("http://127.0.0.1:\(admin)/listeners").body == "main::127.0.0.1:\(port)\n")
        }
    }

    @Test("SIGTERM stops the server with exit status 0")
    func sigterm() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        try await FerryBinary.serve(["-c", path, "--concurrency", "1"]) { child, bound in
            let port = try #require(bound.listeners["main"])
            #expect(try await Curl.fetch("http://127.0.0.1:\(port)/body").status == 200)
            child.signal(SIGTERM)
            let status = await child.waitForExit(timeout: 15)
            #expect(status == 0)
            #expect(child.exitedNormally)
            #expect(child.stderr.contains("shutting down (SIGTERM)"))
            // The process is gone, so its sockets are too. (Probing the port again would be
            // flaky: another test may have been handed the same port by then.)
        }
    }

    @Test("POST /quitquitquit answers OK and stops the server with exit status 0")
    func quitquitquit() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        try await FerryBinary.serve(["-c", path, "--concurrency", "1"]) { child, bound in
            let admin = try #require(bound.admin)
            let get = try await Curl.fetch("http://127.0.0.1:\(admin)/quitquitquit")
            #expect(get.status == 405)
            #expect(child.isRunning)
            let r = try await Curl.fetch(["-X", "POST", "http://127.0.0.1:\(admin)/quitquitquit"])
            #expect(r.status == 200)
            #expect(r.body == "OK\n")
            let status = await child.waitForExit(timeout: 15)
            #expect(status == 0)
            #expect(child.exitedNormally)
            #expect(child.stderr.contains("shutting down (admin /quitquitquit)"))
        }
    }

    @Test("--log-path writes the logs to the file instead of stderr")
    func logPath() async throws {
        let logFile = try CLIConfigs.file("ferry.log")
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        let arguments = ["-c", path, "--concurrency", "1", "--log-path", logFile]
        try await FerryBinary.serve(arguments, logFile: logFile) { child, bound in
            let port = try #require(bound.listeners["main"])
            let log = try String(contentsOfFile: logFile, encoding: .utf8)
            #expect(log.contains("[info][main] listener main listening on 127.0.0.1:\(port)\n"))
            #expect(log.contains("[info][main] ferry started (concurrency 1)\n"))
            #expect(!child.stderr.contains("listening on"), "logs also went to stderr: \(child.stderr)")
        }
    }

    @Test("-l warning hides info lines and --component-log-level turns one component up")
    func logLevels() async throws {
        let logFile = try CLIConfigs.file("ferry.log")
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        let arguments = ["-c", path, "--concurrency", "1", "-l", "warning",
                         "--component-log-level", "main:debug,upstream:trace", "--log-path", logFile]
        try await FerryBinary.serve(arguments, logFile: logFile) { _, bound in
            let admin = try #require(bound.admin)
            let loggers = try await Curl.fetch(["-X", "POST", "http://127.0.0.1:\(admin)/logging"]).body
            #expect(loggers.contains("  main: debug\n"))
            #expect(loggers.contains("  upstream: trace\n"))
            #expect(loggers.contains("  http: warning\n"))
            let info = try await Curl.fetch("http://127.0.0.1:\(admin)/server_info")
            let options = try Admin.json(info.body)["command_line_options"] as? [String: Any]
            #expect(options?["log_level"] as? String == "warning")
            #expect(options?["component_log_level"] as? String == "main:debug,upstream:trace")
        }
    }

    @Test("--concurrency 2 runs two workers, as /stats and /server_info report")
    func concurrency() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        try await FerryBinary.serve(["-c", path, "--concurrency", "2"]) { child, bound in
            let admin = try #require(bound.admin)
            let port = try #require(bound.listeners["main"])
            #expect(child.stderr.contains("ferry started (concurrency 2)"))
            let stats = Admin.stats(try await Curl.fetch("http://127.0.0.1:\(admin)/stats?filter=%5Eserver%5C.").body)
            #expect(stats["server.concurrency"] == "2")
            let info = try Admin.json(try await Curl.fetch("http://127.0.0.1:\(admin)/server_info").body)
            let options = info["command_line_options"] as? [String: Any]
            #expect(options?["concurrency"] as? Int == 2)
            for _ in 0..<6 { #expect(try await Curl.fetch("http://127.0.0.1:\(port)/body").status == 200) }
            let counts = Admin.stats(try await Curl.fetch("http://127.0.0.1:\(admin)/stats?filter=downstream_rq_total").body)
            #expect(counts["http.cli.downstream_rq_total"] == "6")
        }
    }
}
