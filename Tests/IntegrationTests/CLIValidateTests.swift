import FerryTestKit
import Foundation
import Testing

/// The `ferry` binary's one-shot commands: `--version`, `--mode validate`, argument errors.
@Suite("ferry command line: version, validate and argument errors", .temporaryFiles)
struct CLIValidateTests {
    /// Three independent mistakes: an undefined cluster, an enum typo and a misspelled field.
    static let badConfig = """
        static_resources:
          listeners:
          - name: main
            address: {socket_address: {address: 127.0.0.1, port_value: 0}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": \(TestConfig.hcmType)
                  stat_prefix: bad
                  route_config:
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: {prefix: "/"}
                        route: {cluster: missing}
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config: {"@type": \(TestConfig.routerType)}
          clusters:
          - name: a
            type: STATIC
            lb_policy: ROUND_ROBN
            conect_timeout: 1s

        """

    /// `line:column` (1-based) of the first occurrence of `token` in `text`.
    static func location(of token: String, in text: String) -> String {
        let lines = text.components(separatedBy: "\n")
        for (index, line) in lines.enumerated() {
            if let range = line.range(of: token) {
                return "\(index + 1):\(line.distance(from: line.startIndex, to: range.lowerBound) + 1)"
            }
        }
        return "?"
    }

    @Test("--version prints the version line and exits 0")
    func version() async throws {
        let r = try await FerryBinary.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout.wholeMatch(of: /ferry version: \d+\.\d+\.\d+\/swift-6\/(DEBUG|RELEASE)\n/) != nil, "\(r.stdout)")
    }

    @Test("--mode validate on a good file prints that it is OK, exits 0 and binds nothing")
    func validateGood() async throws {
        // The listener names a port that is already taken: validate must not try to bind it.
        let taken = try await EchoServer.start(name: "taken")
        let path = try CLIConfigs.write(CLIConfigs.directResponse(listenerPort: taken.port))
        let r = try await FerryBinary.run(["--mode", "validate", "-c", path])
        await taken.stop()
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "configuration '\(path)' OK\n")
    }

    @Test("--mode validate on a bad file exits 1 and prints every error as file:line:column: error: path: message, then a fix")
    func validateBad() async throws {
        let path = try CLIConfigs.write(Self.badConfig, name: "bad.yaml")
        let r = try await FerryBinary.run(["--mode", "validate", "-c", path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "configuration has 3 errors:")
        let text = Self.badConfig
        let route = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster"
        #expect(Array(lines.dropFirst()) == [
            "\(path):\(Self.location(of: "missing}", in: text)): error: \(route): route names cluster \"missing\", which is not defined",
            "    fix: define it under static_resources.clusters",
            "\(path):\(Self.location(of: "ROUND_ROBN", in: text)): error: static_resources.clusters[0].lb_policy: unknown value \"ROUND_ROBN\" (did you mean ROUND_ROBIN?)",
            "    fix: use one of ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG",
            "\(path):\(Self.location(of: "conect_timeout", in: text)): error: static_resources.clusters[0].conect_timeout: unknown field \"conect_timeout\" in Cluster (did you mean \"connect_timeout\"?)",
            "    fix: rename it to connect_timeout",
            "",
        ])
    }

    /// The same bootstrap as `CLIConfigs.directResponse`, written as JSON.
    static let jsonConfig = """
        {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
         "static_resources": {
          "listeners": [{
           "name": "main",
           "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
           "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
             "@type": "\(TestConfig.hcmType)",
             "stat_prefix": "cli",
             "route_config": {"name": "cli_routes", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
              {"match": {"path": "/body"}, "direct_response": {"status": 200, "body": {"inline_string": "from json"}}}]}]},
             "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": "\(TestConfig.routerType)"}}]}}]}]}],
          "clusters": []}}

        """

    @Test("a JSON config file validates and serves like YAML")
    func jsonConfigFile() async throws {
        #expect(try JSONSerialization.jsonObject(with: Data(Self.jsonConfig.utf8)) is [String: Any])
        let path = try CLIConfigs.write(Self.jsonConfig, name: "ferry.json")
        let validate = try await FerryBinary.run(["--mode", "validate", "-c", path])
        #expect(validate.status == 0, "\(validate.stderr)")
        #expect(validate.stdout == "configuration '\(path)' OK\n")
        try await FerryBinary.serve(["-c", path, "--concurrency", "1"]) { _, bound in
            let port = try #require(bound.listeners["main"])
            let r = try await Curl.fetch("http://127.0.0.1:\(port)/body")
            #expect(r.status == 200)
            #expect(r.body == "from json")
        }
    }

    @Test("--config-yaml is merged on top of -c: its listeners replace the file's, the file's clusters stay")
    func configYAMLOverlay() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse(body: "from file"))
        let overlay = CLIConfigs.listenersOverlay(body: "from overlay")
        try await FerryBinary.serve(["-c", path, "--config-yaml", overlay, "--concurrency", "1"]) { _, bound in
            let port = try #require(bound.listeners["main"])
            let r = try await Curl.fetch("http://127.0.0.1:\(port)/body")
            #expect(r.status == 200)
            #expect(r.body == "from overlay")
            let clusters = try await Curl.fetch("http://127.0.0.1:\(try #require(bound.admin))/clusters")
            #expect(clusters.body.contains("backend::127.0.0.1:9::rq_total::0"))
        }
    }

    @Test("a bad -l value is refused with a message naming the allowed levels")
    func badLogLevel() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        let r = try await FerryBinary.run(["-c", path, "-l", "loud"])
        #expect(r.status != 0)
        let message = "Error: --log-level must be one of trace, debug, info, warning, error, critical, off\n"
        #expect(r.stderr.hasPrefix(message), "\(r.stderr)")
    }

    @Test("a bad --component-log-level value is refused with a message naming the item and the components")
    func badComponentLogLevel() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        for value in ["upstream:loud", "nosuch:debug", "upstream"] {
            let r = try await FerryBinary.run(["-c", path, "--component-log-level", value])
            #expect(r.status != 0, "\(value)")
            let components = "main, config, admin, upstream, dns, connection, http, runtime"
            let message = "Error: --component-log-level: \"\(value)\" is not component:level (components: \(components))\n"
            #expect(r.stderr.hasPrefix(message), "\(value): \(r.stderr)")
            #expect(!r.stderr.contains("ferry started"))
        }
    }

    // Envoy 1.40 prints "error: invalid log level specified 'loud'" and exits 1 for both flags.
    @Test("bad log level flags exit with status 1 as Envoy does")
    func badLogLevelExitStatus() async throws {
        let path = try CLIConfigs.write(CLIConfigs.directResponse())
        #expect(try await FerryBinary.run(["-c", path, "-l", "loud"]).status == 1)
        #expect(try await FerryBinary.run(["-c", path, "--component-log-level", "upstream:loud"]).status == 1)
    }

    @Test("a missing config file exits 1 with a message naming the path")
    func missingConfig() async throws {
        let path = try CLIConfigs.file("absent.yaml")
        for mode in ["serve", "validate"] {
            let r = try await FerryBinary.run(["--mode", mode, "-c", path])
            #expect(r.status == 1, "\(mode)")
            #expect(r.stderr == """
                configuration has 1 error:
                \(path):0:0: error: config file not found
                    fix: check the path given to -c/--config-path

                """, "\(mode): \(r.stderr)")
        }
    }
}
