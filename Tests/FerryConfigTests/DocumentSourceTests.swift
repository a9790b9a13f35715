@testable import FerryConfig
import Foundation
import Testing

/// Reading the text: YAML syntax, tabs, duplicate keys, files, `--config-yaml`, JSON and proto-JSON names.
@Suite("Config sources and syntax")
struct DocumentSourceTests {
    @Test("a YAML syntax error reports the parser's line and column")
    func yamlSyntaxError() throws {
        let yaml = """
            admin:
              address: {socket_address: {address: 127.0.0.1, port_value: 9901}
            static_resources: {}
            """
        let error = try #require(Fixture.errors(yaml).only)
        // libyaml notices the unclosed flow mapping of line 2 at the start of line 3.
        #expect(error.location == FerryConfig.SourceLocation(file: "test.yaml", line: 3, column: 1))
        #expect(error.path == "")
        #expect(error.message.contains("YAML syntax error"))
        #expect(error.message.contains("flow mapping at line 2"))
        #expect(error.fix != nil)
    }

    @Test("a value with an unquoted colon is a syntax error at the colon")
    func mappingValueNotAllowed() throws {
        let yaml = """
            static_resources:
              clusters:
              - name: a: b
            """
        let error = try #require(Fixture.errors(yaml).only)
        #expect(error.location == FerryConfig.SourceLocation(file: "test.yaml", line: 3, column: 12))
        #expect(error.message.contains("mapping values are not allowed"))
        #expect(error.fix != nil)
    }

    @Test("tab indentation is named as such, on its line")
    func tabIndentation() throws {
        let yaml = "admin:\n  address:\n\t socket_address: {address: 127.0.0.1, port_value: 9901}\n"
        let error = try #require(Fixture.errors(yaml).only)
        #expect(error.location == FerryConfig.SourceLocation(file: "test.yaml", line: 3, column: 1))
        #expect(error.message.contains("tab"))
        #expect(error.fix?.contains("line 3") == true)
    }

    @Test("a tab inside a line is not mistaken for indentation")
    func tabInsideLineIsFine() {
        let yaml = "admin:\n  address: {socket_address: {address: 127.0.0.1,\tport_value: 9901}}\n"
        #expect(Fixture.load(yaml)?.admin?.address.port == 9901)
    }

    @Test("a key written twice in one mapping is an error naming the key")
    func duplicateKeys() throws {
        let yaml = """
            admin:
              address:
                socket_address:
                  address: 127.0.0.1
                  port_value: 9901
                  address: 127.0.0.2
            """
        let error = try #require(Fixture.errors(yaml).only)
        // Yams reports the first of the repeated keys.
        #expect(error.location == Fixture.location(of: "address: 127.0.0.1", in: yaml))
        #expect(error.message.contains("duplicate key \"address\""))
        #expect(error.fix != nil)
    }

    @Test("a missing file is reported with its path and a fix")
    func missingFile() throws {
        let path = "/nonexistent-ferry-tests/missing.yaml"
        guard case .failure(let errors) = ConfigLoader.load(path: path, configYAML: nil) else {
            Issue.record("a missing file must not load")
            return
        }
        let error = try #require(errors.diagnostics.only)
        #expect(error.location == FerryConfig.SourceLocation(file: path, line: 0, column: 0))
        #expect(error.message == "config file not found")
        #expect(error.fix?.contains("--config-path") == true)
    }

    @Test("no file and no --config-yaml is an error")
    func nothingGiven() throws {
        guard case .failure(let errors) = ConfigLoader.load(path: nil, configYAML: nil) else {
            Issue.record("an empty invocation must not load")
            return
        }
        let error = try #require(errors.diagnostics.only)
        #expect(error.message == "no configuration given")
        #expect(error.fix != nil)
    }

    @Test("--config-yaml alone is a whole configuration, located as --config-yaml")
    func configYAMLOnly() throws {
        guard case .success(let loaded) = ConfigLoader.load(path: nil, configYAML: Fixture.bootstrap()) else {
            Issue.record("--config-yaml alone must load")
            return
        }
        #expect(loaded.sources == ["--config-yaml"])
        #expect(loaded.bootstrap.listeners.map(\.name) == ["web"])
        #expect(loaded.bootstrap.clusters.first?.location.file == "--config-yaml")

        let broken = "admin:\n  addres: {}\n"
        guard case .failure(let errors) = ConfigLoader.load(path: nil, configYAML: broken) else {
            Issue.record("a broken --config-yaml must not load")
            return
        }
        let error = try #require(errors.errors.only)
        #expect(error.location == FerryConfig.SourceLocation(file: "--config-yaml", line: 2, column: 3))
        #expect(error.path == "admin.addres")
    }

    @Test("JSON input gives the same model as the same content in YAML")
    func jsonEqualsYAML() throws {
        let yaml = """
            admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}
            static_resources:
              clusters:
              - name: api
                connect_timeout: 0.25s
                type: STRICT_DNS
                load_assignment:
                  cluster_name: api
                  endpoints:
                  - lb_endpoints:
                    - endpoint: {address: {socket_address: {address: api.local, port_value: 8081}}}
                      load_balancing_weight: 3
            """
        let json = """
            {
              "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}},
              "static_resources": {
                "clusters": [{
                  "name": "api",
                  "connect_timeout": "0.25s",
                  "type": "STRICT_DNS",
                  "load_assignment": {
                    "cluster_name": "api",
                    "endpoints": [{"lb_endpoints": [{
                      "endpoint": {"address": {"socket_address": {"address": "api.local", "port_value": 8081}}},
                      "load_balancing_weight": 3
                    }]}]
                  }
                }]
              }
            }
            """
        let fromYAML = try #require(Fixture.load(yaml))
        let fromJSON = try #require(Fixture.load(json))
        #expect(fromJSON.admin?.address == fromYAML.admin?.address)
        let a = try #require(fromYAML.clusters.only), b = try #require(fromJSON.clusters.only)
        #expect(a.name == b.name && a.type == b.type && a.connectTimeout == b.connectTimeout)
        #expect(b.connectTimeout == .milliseconds(250))
        let endpointA = try #require(a.loadAssignment.localities.first?.endpoints.only)
        let endpointB = try #require(b.loadAssignment.localities.first?.endpoints.only)
        #expect(endpointA.address == endpointB.address && endpointA.weight == endpointB.weight)
        #expect(endpointB.address == SocketAddress(address: "api.local", port: 8081) && endpointB.weight == 3)
    }

    @Test("JSON errors carry JSON line and column")
    func jsonErrorLocation() {
        let json = """
            {
              "admin": {
                "adress": {}
              }
            }
            """
        Fixture.expectOneError(
            json, at: "\"adress\"", path: "admin.adress", message: "unknown field \"adress\" in Admin")
    }

    @Test("proto-JSON camelCase names are accepted")
    func camelCaseAccepted() throws {
        let yaml = """
            staticResources:
              clusters:
              - name: backend
                connectTimeout: 2s
                loadAssignment:
                  clusterName: backend
                  endpoints:
                  - lbEndpoints:
                    - endpoint: {address: {socketAddress: {address: 127.0.0.1, portValue: 8080}}}
            """
        let cluster = try #require(Fixture.load(yaml)?.clusters.only)
        #expect(cluster.connectTimeout == .seconds(2))
        #expect(cluster.loadAssignment.localities.first?.endpoints.first?.address.port == 8080)
    }

    @Test("the same field written in both spellings is rejected at the second one")
    func twoSpellingsRejected() {
        let yaml = """
            admin:
              address:
                socket_address:
                  address: 127.0.0.1
                  portValue: 9901
                  port_value: 9902
            """
        let error = Fixture.expectOneError(
            yaml, at: "port_value", path: "admin.address.socket_address.port_value",
            message: "field is set twice")
        #expect(error?.message.contains("\"portValue\" at line 5") == true)
    }

    @Test("a file on disk loads with its path in every location")
    func loadsFromFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-config-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ferry.yaml").path
        try Fixture.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backnd}").write(
            toFile: path, atomically: true, encoding: .utf8)

        guard case .failure(let errors) = ConfigLoader.load(path: path, configYAML: nil) else {
            Issue.record("a route to an undefined cluster must not load")
            return
        }
        let error = try #require(errors.errors.only)
        #expect(error.location.file == path)
        #expect(error.description.hasPrefix("\(path):\(error.location.line):\(error.location.column): error: "))
    }
}
