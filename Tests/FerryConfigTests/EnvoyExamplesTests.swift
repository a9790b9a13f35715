@testable import FerryConfig
import Foundation
import Testing

/// Envoy's own example configurations (`../shared/conformance/envoy-examples`) and Ferry's quickstart.
///
/// Which examples must load is owned by the conformance table; here every file must go through the
/// loader without crashing, and every error it reports must be located in the file, carry a fix, and
/// be of an expected kind: a feature "not supported yet", or an address- or cluster-level problem.
@Suite("Envoy example configs")
struct EnvoyExamplesTests {
    /// `/work/main` when run from the repository (symlinked test folders are resolved first).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let examplesDirectory = repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/conformance/envoy-examples")

    static let exampleFiles: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examplesDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    @Test("the corpus is present")
    func corpusPresent() {
        #expect(
            Self.exampleFiles.count >= 40, "found \(Self.exampleFiles.count) files in \(Self.examplesDirectory.path)")
    }

    @Test("every Envoy example loads or fails with located, expected kinds of errors", arguments: exampleFiles)
    func example(name: String) throws {
        let path = Self.examplesDirectory.appendingPathComponent(name).path
        guard case .failure(let failure) = ConfigLoader.load(path: path, configYAML: nil) else { return }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lineCount = text.split(separator: "\n", omittingEmptySubsequences: false).count
        let isXDSResourceFile = (try? ConfigDocument.parse(text, file: path).get())?.entry("resources") != nil
        for error in failure.errors {
            #expect(
                error.location.file == path && (1...lineCount).contains(error.location.line)
                    && error.location.column >= 1,
                "\(error)")
            #expect(error.fix?.isEmpty == false, "\(error)")
            if isXDSResourceFile {
                // LDS/CDS resource files (`resources: [...]`) are not bootstraps; their one error says so.
                #expect(error.path == "resources" && error.message.contains("unknown field \"resources\""), "\(error)")
                continue
            }
            let expectedKind =
                error.message.contains("not supported yet")
                || error.path.hasPrefix("static_resources.clusters") || error.path.contains("address")
                // TLS examples name certificate files under certs/, which the corpus does not ship.
                || error.message.hasPrefix("cannot read file \"certs/")
            #expect(expectedKind, "\(name): \(error)")
        }
    }

    @Test("the quickstart example loads into the documented routes")
    func quickstart() throws {
        let path = Self.repositoryRoot.appendingPathComponent("examples/quickstart.yaml").path
        guard case .success(let loaded) = ConfigLoader.load(path: path, configYAML: nil) else {
            Issue.record("examples/quickstart.yaml must load")
            return
        }
        #expect(loaded.warnings.isEmpty)
        let bootstrap = loaded.bootstrap
        #expect(bootstrap.admin?.address == SocketAddress(address: "127.0.0.1", port: 9901))
        #expect(bootstrap.clusters.map(\.name) == ["api", "shop_v1", "shop_v2"])
        let listener = try #require(bootstrap.listeners.only)
        #expect(listener.address == SocketAddress(address: "127.0.0.1", port: 10000))
        let hcm = try #require(listener.httpConnectionManager)
        #expect(hcm.accessLogs.map(\.sink) == [.stdout])
        let routes = try #require(hcm.routeConfig.virtualHosts.only?.routes)
        #expect(routes.count == 3)
        guard case .directResponse(let health) = routes[0].action, case .path("/health") = routes[0].match.path,
            case .route(let api) = routes[1].action, case .cluster("api") = api.cluster,
            case .route(let shop) = routes[2].action, case .weighted(let weights) = shop.cluster
        else {
            Issue.record("unexpected quickstart routes")
            return
        }
        #expect(health.status == 200 && health.body?.string == "ok\n")
        #expect(weights.map(\.name) == ["shop_v1", "shop_v2"] && weights.map(\.weight) == [80, 20])
    }
}
