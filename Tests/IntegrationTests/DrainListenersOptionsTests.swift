import FerryTestKit
import Foundation
import Testing

/// `POST /drain_listeners` and its `inboundonly` and `graceful` options, as Envoy 1.40 handles
/// them (checked against the real Envoy here) and as Ferry does. Three listeners: `in`
/// (traffic_direction INBOUND), `out` (OUTBOUND) and `plain` (unspecified).
@Suite("POST /drain_listeners options, Envoy 1.40 and Ferry", .serialized, .temporaryFiles)
struct DrainListenersOptionsTests {
    enum Option: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case none = "", inboundOnly = "?inboundonly", graceful = "?graceful"
        var testDescription: String { self == .none ? "no option" : rawValue }
    }

    static let drainTime = 2
    static let names = ["in", "out", "plain"]

    static var yaml: String {
        let routes = [ReloadConfig.direct("/hello", "hello")]
        return ReloadConfig.bootstrap(listeners: [
            ReloadConfig.listener("in", routes: routes, direction: "INBOUND"),
            ReloadConfig.listener("out", routes: routes, direction: "OUTBOUND"),
            ReloadConfig.listener("plain", routes: routes),
        ], clusters: [])
    }

    static var envoyInstalled: Bool { (try? EnvoyProcess.binaryPath()) != nil }

    /// Whether a new connection to `port` is accepted and answered.
    static func serves(_ port: Int) async -> Bool {
        guard let response = try? await RawHTTPClient.exchange(port: port, "GET /hello HTTP/1.1\r\nhost: x\r\n\r\n", timeout: 5)
        else { return false }
        return response.status == 200
    }

    /// Envoy 1.40's behaviour, asserted against whichever proxy listens on `ports` with its admin
    /// on `admin`; `isRunning` tells whether the process is still up.
    static func expectEnvoyBehaviour(_ option: Option, admin: Int, ports: [String: Int], isRunning: () -> Bool) async throws {
        let reply = try await ProxyHarness.admin("POST", "/drain_listeners\(option.rawValue)", port: admin)
        #expect(reply.status == 200)
        #expect(reply.body == "OK\n")
        switch option {
        case .none:
            for name in names {
                #expect(await Support.eventually { await Connect.refused(port: ports[name] ?? 0) }, "\(name) still accepts")
            }
        case .inboundOnly:
            let stopped = await Support.eventually { await Connect.refused(port: ports["in"] ?? 0) }
            #expect(stopped, "the INBOUND listener still accepts")
            #expect(await serves(ports["out"] ?? 0), "the OUTBOUND listener stopped")
            #expect(await serves(ports["plain"] ?? 0), "the listener without traffic_direction stopped")
        case .graceful:
            // During the drain time the listeners still accept (responses ask clients to close
            // more and more often); afterwards they stop.
            #expect(await serves(ports["in"] ?? 0), "the listener stopped at once instead of after the drain time")
            for name in names {
                let stopped = await Support.eventually(timeout: .seconds(drainTime + 10)) {
                    await Connect.refused(port: ports[name] ?? 0)
                }
                #expect(stopped, "\(name) still accepts after the drain time")
            }
        }
        // Draining listeners is not a health-check failure: /ready stays LIVE, the process up.
        let ready = try await ProxyHarness.admin("GET", "/ready", port: admin)
        #expect(ready.status == 200, "/ready: \(ready.status) \(ready.body)")
        #expect(ready.body == "LIVE\n")
        #expect(isRunning())
    }

    @Test("Envoy 1.40", .enabled(if: envoyInstalled), arguments: Option.allCases)
    func envoy(_ option: Option) async throws {
        try await EnvoyProcess.with(yaml: Self.yaml, drainTimeSeconds: Self.drainTime) { envoy in
            try await Self.expectEnvoyBehaviour(option, admin: envoy.adminPort, ports: envoy.listenerPorts,
                                                isRunning: { envoy.child.isRunning })
            // Envoy started from the test runner inherits a blocked SIGTERM; /quitquitquit ends it at once.
            _ = try? await ProxyHarness.admin("POST", "/quitquitquit", port: envoy.adminPort)
            _ = await envoy.child.waitForExit(timeout: 5)
        }
    }

    static func ferry(_ option: Option) async throws {
        let path = try CLIConfigs.write(yaml)
        try await FerryBinary.serve(["-c", path, "--concurrency", "1", "--drain-time-s", "\(drainTime)"]) { child, bound in
            let admin = try #require(bound.admin)
            try await expectEnvoyBehaviour(option, admin: admin, ports: bound.listeners, isRunning: { child.isRunning })
        }
    }

    @Test("Ferry, no option: listeners stop and /ready stays LIVE as in Envoy")
    func ferryPlain() async throws { try await Self.ferry(.none) }

    @Test("Ferry, ?inboundonly: only INBOUND listeners stop, as in Envoy")
    func ferryInboundOnly() async throws { try await Self.ferry(.inboundOnly) }

    @Test("Ferry, ?graceful: listeners keep accepting for the drain time, then stop, as in Envoy")
    func ferryGraceful() async throws { try await Self.ferry(.graceful) }
}
