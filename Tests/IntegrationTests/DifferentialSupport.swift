import FerryTestKit
import Foundation
import Testing

/// The real Envoy 1.40 and Ferry started on the same config text (`DifferentialConfig`), both in
/// front of the same echo upstreams, so a test can send one request to each and compare.
struct ProxyPair {
    let envoy: EnvoyProcess
    let ferry: ProxyHarness
    let echo: EchoServer
    let echoB: EchoServer
    let envoyAccessLog: String
    let ferryAccessLog: String

    var envoyPort: Int { envoy.port(of: "main") }
    var ferryPort: Int { ferry.port(of: "main") }

    /// Starts both proxies and the echo upstreams, runs `body`, and stops all of them whether
    /// `body` returns or throws.
    static func with<T>(_ body: (ProxyPair) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory.make(prefix: "diff")
        defer { try? FileManager.default.removeItem(at: directory) }
        let envoyLog = directory.appendingPathComponent("envoy-access.log").path
        let ferryLog = directory.appendingPathComponent("ferry-access.log").path
        let echo = try await EchoServer.start(name: "echo")
        do {
            let echoB = try await EchoServer.start(name: "echo_b")
            do {
                // A port nothing listens on: the "dead" cluster's connect failure (UF).
                let dead = try FreePort.dead()
                let text = { (log: String) in
                    DifferentialConfig.yaml(echo: echo.port, echoB: echoB.port, dead: dead, accessLog: log)
                }
                let result = try await EnvoyProcess.with(yaml: text(envoyLog)) { envoy in
                    let ferry = try await ProxyHarness.start(yaml: text(ferryLog))
                    do {
                        let pair = ProxyPair(envoy: envoy, ferry: ferry, echo: echo, echoB: echoB,
                                             envoyAccessLog: envoyLog, ferryAccessLog: ferryLog)
                        let result = try await body(pair)
                        await ferry.stop()
                        return result
                    } catch {
                        await ferry.stop()
                        throw error
                    }
                }
                await echoB.stop()
                await echo.stop()
                return result
            } catch {
                await echoB.stop()
                throw error
            }
        } catch {
            await echo.stop()
            throw error
        }
    }

    /// `curl ARGS http://127.0.0.1:<port>PATH` against both proxies, Envoy first.
    func curl(_ arguments: [String], path: String) async throws -> (envoy: Curl.Result, ferry: Curl.Result) {
        let envoy = try await Curl.fetch(arguments + ["http://127.0.0.1:\(envoyPort)\(path)"])
        let ferry = try await Curl.fetch(arguments + ["http://127.0.0.1:\(ferryPort)\(path)"])
        return (envoy, ferry)
    }

    /// The same raw bytes to both proxies, Envoy first.
    func raw(_ request: String, halfClose: Bool = false) async throws -> (envoy: RawHTTPResponse, ferry: RawHTTPResponse) {
        let envoy = try await RawHTTPClient.exchange(port: envoyPort, request, halfClose: halfClose)
        let ferry = try await RawHTTPClient.exchange(port: ferryPort, request, halfClose: halfClose)
        return (envoy, ferry)
    }

    /// Counter values from each proxy's admin `/stats`.
    func stats() async throws -> (envoy: [String: String], ferry: [String: String]) {
        let envoy = try await Curl.fetch("http://127.0.0.1:\(envoy.adminPort)/stats")
        let ferry = try await Curl.fetch("http://127.0.0.1:\(ferry.adminPort)/stats")
        return (Admin.stats(envoy.body), Admin.stats(ferry.body))
    }

    /// Waits until each access log holds `count` lines (Envoy flushes its file logs about once
    /// a second) and returns them.
    func accessLogs(count: Int, timeout: Double = 15) async throws -> (envoy: [String], ferry: [String]) {
        let deadline = Date().addingTimeInterval(timeout)
        func lines(_ path: String) -> [String] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        while true {
            let envoy = lines(envoyAccessLog), ferry = lines(ferryAccessLog)
            if (envoy.count >= count && ferry.count >= count) || Date() > deadline { return (envoy, ferry) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// What a client observes, with the values that legitimately differ between two runs replaced.
struct Observed: Equatable, CustomStringConvertible {
    var status: Int
    /// `name: value` with lowercased names, sorted.
    var headers: [String]
    /// The body, or for an echo answer its normalized description (`EchoView`).
    var body: String

    init(status: Int, headers: [(String, String)], body: String) {
        self.status = status
        self.headers = headers.map { name, value in
            let name = name.lowercased()
            switch name {
            case "date": return "date: <date>"
            // By design: Envoy's default server name is "envoy", Ferry's is "ferry" (both honour
            // `server_name`); `DifferentialTests` checks each value separately.
            case "server": return "server: <server>"
            case "x-envoy-upstream-service-time": return "x-envoy-upstream-service-time: <ms>"
            default: return "\(name): \(value)"
            }
        }.sorted()
        self.body = EchoView(body)?.description ?? body
    }

    init(_ r: Curl.Result) { self.init(status: r.status, headers: r.headers, body: r.body) }
    init(_ r: RawHTTPResponse) { self.init(status: r.status, headers: r.headers, body: r.body) }

    var description: String { "\(status)\n" + headers.joined(separator: "\n") + "\n\n" + body }

    /// A failure message showing both sides.
    static func explain(_ name: String, ferry: Observed, envoy: Observed) -> Comment {
        Comment(rawValue: "\(name): Ferry\n\(ferry)\n--- Envoy\n\(envoy)")
    }
}

/// The echo upstream's JSON, reduced to what the proxy decided: name, method, path, version,
/// body size, and header names and values (x-request-id values are random, so only their UUID
/// shape is kept). Headers are sorted here; `orderedHeaders` keeps the order they arrived in.
struct EchoView: CustomStringConvertible {
    var fields: [String: String]
    var orderedHeaders: [String]

    init?(_ body: String) {
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
              let headers = json["headers"] as? [[String]] else { return nil }
        fields = [:]
        for key in ["name", "method", "path", "version"] { fields[key] = json[key] as? String ?? "?" }
        fields["body_bytes"] = (json["body_bytes"] as? Int).map(String.init) ?? "?"
        orderedHeaders = headers.map { pair in
            let name = pair.first?.lowercased() ?? "", value = pair.count > 1 ? pair[1] : ""
            if name == "x-request-id" {
                return "x-request-id: " + (UUID(uuidString: value) == nil ? "<not a uuid: \(value)>" : "<uuid>")
            }
            return "\(name): \(value)"
        }
    }

    var description: String {
        fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "\n"
            + orderedHeaders.sorted().joined(separator: "\n")
    }
}

/// Envoy's default access log line with its times, durations and request ids replaced.
enum AccessLogLine {
    /// `[START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS RX TX DURATION UPSTREAM_TIME "XFF" "UA" "ID" "AUTHORITY" "HOST"`
    static func normalize(_ line: String) -> String {
        let pattern = /^\[[^\]]+\] (".*") (\d+) (\S+) (\d+) (\d+) (\d+) (\S+) (".*") (".*") "([^"]*)" (".*") (".*")$/
        guard let m = line.wholeMatch(of: pattern) else { return "unparsed: " + line }
        let id = UUID(uuidString: String(m.10)) != nil ? "<uuid>" : String(m.10)
        let upstreamTime = Int(m.7) != nil ? "<ms>" : String(m.7)
        return "[<time>] \(m.1) \(m.2) \(m.3) \(m.4) \(m.5) <ms> \(upstreamTime) \(m.8) \(m.9) \"\(id)\" \(m.11) \(m.12)"
    }

    /// The DURATION field in milliseconds.
    static func duration(_ line: String) -> Int? {
        guard let m = line.wholeMatch(of: /^\[[^\]]+\] ".*" \d+ \S+ \d+ \d+ (\d+) .*$/) else { return nil }
        return Int(m.1)
    }
}
