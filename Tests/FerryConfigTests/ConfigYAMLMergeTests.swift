@testable import FerryConfig
import Foundation
import Testing

/// `--config-yaml` overlays: mappings merge key by key, scalars and lists are replaced.
@Suite("--config-yaml merge")
struct ConfigYAMLMergeTests {
    static let base = """
        admin:
          address: {socket_address: {address: 127.0.0.1, port_value: 9901}}
        static_resources:
          clusters:
          - name: a
            connect_timeout: 1s
          - name: b
        """

    private func merged(_ overlay: String, base: String = Self.base) throws -> ConfigNode {
        let file = try ConfigDocument.parse(base, file: "base.yaml").get()
        let extra = try ConfigDocument.parse(overlay, file: "--config-yaml").get()
        return file.merging(extra)
    }

    private func load(_ document: ConfigNode) -> Bootstrap? {
        switch ConfigLoader.load(document: document) {
        case .success(let loaded): return loaded.bootstrap
        case .failure(let errors):
            Issue.record("expected the merged config to load:\n\(errors)")
            return nil
        }
    }

    @Test("mappings merge key by key and scalars are replaced")
    func mapsMergeScalarsReplace() throws {
        let bootstrap = try #require(load(try merged("admin: {address: {socket_address: {port_value: 9902}}}")))
        // port_value replaced, address kept from the file.
        #expect(bootstrap.admin?.address == SocketAddress(address: "127.0.0.1", port: 9902))
        #expect(bootstrap.clusters.map(\.name) == ["a", "b"])
    }

    @Test("lists are replaced, not appended (Ferry's rule; Envoy 1.40 appends repeated fields)")
    func listsReplace() throws {
        let bootstrap = try #require(load(try merged("static_resources: {clusters: [{name: c, connect_timeout: 3s}]}")))
        #expect(bootstrap.clusters.map(\.name) == ["c"])
        #expect(bootstrap.clusters.first?.connectTimeout == .seconds(3))
        #expect(bootstrap.admin?.address.port == 9901)
    }

    @Test("a key only in the overlay is added")
    func newKeysAdded() throws {
        let node = try merged("layered_runtime: {layers: [{name: static, static_layer: {a: 1}}]}")
        #expect(node.entries?.map(\.key) == ["admin", "static_resources", "layered_runtime"])
        #expect(load(node)?.runtime.value("a") == "1")
    }

    @Test("a scalar replaces a whole mapping, and the error is located in --config-yaml")
    func scalarReplacesMapping() throws {
        guard case .failure(let errors) = ConfigLoader.load(document: try merged("\nadmin: disabled")) else {
            Issue.record("a scalar admin must not load")
            return
        }
        let error = try #require(errors.errors.only)
        #expect(error.location == FerryConfig.SourceLocation(file: "--config-yaml", line: 2, column: 8))
        #expect(error.path == "admin")
        #expect(error.message.contains("expected a mapping (Admin), found the value \"disabled\""))
    }

    @Test("merged nodes keep the file each value came from")
    func locationsKeepTheirSource() throws {
        let overlay = "static_resources:\n  clusters:\n  - name: c\n    lb_policy: ROUND_ROBN\n"
        let base = Self.base + "\n  listeners: [{name: x, adress: {}}]"
        guard case .failure(let errors) = ConfigLoader.load(document: try merged(overlay, base: base)) else {
            Issue.record("expected errors from both sources")
            return
        }
        let byFile = Dictionary(grouping: errors.errors, by: \.location.file)
        let fromOverlay = try #require(byFile["--config-yaml"]?.only)
        #expect(fromOverlay.location == FerryConfig.SourceLocation(file: "--config-yaml", line: 4, column: 16))
        #expect(fromOverlay.path == "static_resources.clusters[0].lb_policy")
        let fromFile = try #require(byFile["base.yaml"]?.first { $0.message.contains("unknown field \"adress\"") })
        #expect(fromFile.location == FerryConfig.SourceLocation(file: "base.yaml", line: 8, column: 25))
        // Sorted by file name first: "--config-yaml" < "base.yaml".
        #expect(errors.diagnostics.first?.location.file == "--config-yaml")
    }

    @Test("load(path:configYAML:) overlays the text on the file and lists both sources")
    func pathAndOverlay() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "ferry-merge-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("ferry.yaml").path
        try Fixture.bootstrap().write(toFile: path, atomically: true, encoding: .utf8)

        let overlay = "admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}"
        guard case .success(let loaded) = ConfigLoader.load(path: path, configYAML: overlay) else {
            Issue.record("file plus overlay must load")
            return
        }
        #expect(loaded.sources == [path, "--config-yaml"])
        #expect(loaded.bootstrap.admin?.address.port == 9901)
        #expect(loaded.bootstrap.listeners.map(\.name) == ["web"])
        #expect(loaded.document.entries?.map(\.key) == ["static_resources", "admin"])
    }

    @Test("a syntax error in --config-yaml stops the load with its own location")
    func overlaySyntaxError() throws {
        guard case .failure(let errors) = ConfigLoader.load(path: nil, configYAML: "admin: {address: [}") else {
            Issue.record("a broken overlay must not load")
            return
        }
        let error = try #require(errors.diagnostics.only)
        #expect(error.location.file == "--config-yaml")
        #expect(error.location.line == 1)
        #expect(error.message.contains("YAML syntax error"))
    }
}
