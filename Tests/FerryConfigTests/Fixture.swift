@testable import FerryConfig
import Testing

/// Small YAML bootstraps and the assertions every config test needs.
///
/// Expected locations are found by searching the fixture text (`Fixture.location(of:in:)`), which
/// is independent of the YAML parser, so a test states "the error points at `rotue`" and checks the
/// exact line and column the loader reports.
enum Fixture {
    static let file = "test.yaml"

    /// Field path of the HTTP connection manager in `bootstrap(...)`.
    static let hcm = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
    static let virtualHost = "\(hcm).route_config.virtual_hosts[0]"
    static func route(_ index: Int) -> String { "\(virtualHost).routes[\(index)]" }

    static let defaultRoutes = """
        - match: {prefix: "/"}
          route: {cluster: backend}
        """

    static let router = """
        - name: envoy.filters.http.router
          typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
        """

    static let backendCluster = """
        - name: backend
          load_assignment:
            cluster_name: backend
            endpoints:
            - lb_endpoints:
              - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}
        """

    /// A whole bootstrap: one listener on 127.0.0.1:10000 whose manager has one virtual host
    /// (`all`, domains `*`), plus the `backend` cluster. Each argument replaces one part; `hcm`
    /// adds fields to the connection manager, `top` adds top-level fields.
    static func bootstrap(
        routes: String = defaultRoutes, virtualHostFields: String = "", hcm: String = "",
        routeConfigFields: String = "", httpFilters: String = router,
        clusters: String = backendCluster, top: String = ""
    ) -> String {
        var text = top.isEmpty ? "" : top + "\n"
        text += """
            static_resources:
              listeners:
              - name: web
                address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      stat_prefix: web

            """
        text += indent(hcm, 10)
        text += "          route_config:\n"
        text += indent(routeConfigFields, 12)
        text += """
                        virtual_hosts:
                        - name: all
                          domains: ["*"]

            """
        text += indent(virtualHostFields, 14)
        text += "              routes:\n"
        text += indent(routes, 14)
        text += "          http_filters:\n"
        text += indent(httpFilters, 10)
        text += "  clusters:\n"
        text += indent(clusters, 2)
        return text
    }

    private static func indent(_ block: String, _ spaces: Int) -> String {
        guard !block.isEmpty else { return "" }
        let pad = String(repeating: " ", count: spaces)
        return block.split(separator: "\n", omittingEmptySubsequences: false).map { pad + $0 }.joined(separator: "\n")
            + "\n"
    }

    // MARK: loading

    static func result(_ yaml: String) -> Result<LoadedConfig, ConfigErrors> {
        ConfigLoader.load(yaml: yaml, file: file)
    }

    /// Every diagnostic of a run (errors and warnings); empty when the config loaded without warnings.
    static func diagnostics(_ yaml: String) -> [ConfigDiagnostic] {
        switch result(yaml) {
        case .success(let loaded): return loaded.warnings
        case .failure(let errors): return errors.diagnostics
        }
    }

    static func errors(_ yaml: String) -> [ConfigDiagnostic] { diagnostics(yaml).filter { $0.severity == .error } }

    /// The loaded bootstrap; records an issue listing the errors when loading fails.
    static func load(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Bootstrap? {
        switch result(yaml) {
        case .success(let loaded): return loaded.bootstrap
        case .failure(let errors):
            Issue.record("expected the config to load:\n\(errors)", sourceLocation: sourceLocation)
            return nil
        }
    }

    /// The first route action of the first virtual host of `bootstrap`.
    static func firstRoute(_ bootstrap: Bootstrap?) -> Route? {
        bootstrap?.listeners.first?.httpConnectionManager?.routeConfig.virtualHosts.first?.routes.first
    }

    // MARK: locations

    /// Where `needle` starts (1-based line and column), searching from the first `after` if given
    /// and taking the `occurrence`-th match.
    static func location(
        of needle: String, in text: String, after anchor: String? = nil, occurrence: Int = 1,
        file: String = Fixture.file
    ) -> FerryConfig.SourceLocation {
        var searchStart = text.startIndex
        if let anchor, let found = text.range(of: anchor) { searchStart = found.lowerBound }
        var match: Range<String.Index>?
        for _ in 0..<occurrence {
            guard let found = text.range(of: needle, range: searchStart..<text.endIndex) else { return .unknown }
            match = found
            searchStart = found.upperBound
        }
        guard let match else { return .unknown }
        let before = text[text.startIndex..<match.lowerBound]
        let line = before.filter { $0 == "\n" }.count + 1
        let lineStart = before.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
        let column = text.distance(from: lineStart, to: match.lowerBound) + 1
        return FerryConfig.SourceLocation(file: file, line: line, column: column)
    }

    /// Asserts that `yaml` fails with exactly one error, located at `needle`, on `path`, whose message
    /// contains `message`, and that the error says how to fix it. Returns the error.
    @discardableResult
    static func expectOneError(
        _ yaml: String, at needle: String, after anchor: String? = nil, occurrence: Int = 1,
        path: String, message: String,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> ConfigDiagnostic? {
        let all = errors(yaml)
        #expect(
            all.count == 1, "expected one error, got:\n\(all.map(\.description).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
        return expectError(
            in: all, yaml: yaml, at: needle, after: anchor, occurrence: occurrence, path: path,
            message: message, sourceLocation: sourceLocation)
    }

    /// Like `expectOneError`, for a config that may have other errors too: the one error whose message
    /// contains `message` is checked.
    @discardableResult
    static func expectError(
        _ yaml: String, at needle: String, after anchor: String? = nil, occurrence: Int = 1,
        path: String, message: String,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> ConfigDiagnostic? {
        expectError(
            in: errors(yaml), yaml: yaml, at: needle, after: anchor, occurrence: occurrence, path: path,
            message: message, sourceLocation: sourceLocation)
    }

    private static func expectError(
        in all: [ConfigDiagnostic], yaml: String, at needle: String, after anchor: String?,
        occurrence: Int, path: String, message: String,
        sourceLocation: Testing.SourceLocation
    ) -> ConfigDiagnostic? {
        let matching = all.filter { $0.message.contains(message) }
        guard let error = matching.only else {
            Issue.record(
                "expected one error containing \"\(message)\", got:\n\(all.map(\.description).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
            return nil
        }
        let expected = location(of: needle, in: yaml, after: anchor, occurrence: occurrence)
        #expect(expected != .unknown, "fixture has no \"\(needle)\"", sourceLocation: sourceLocation)
        #expect(error.location == expected, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.fix?.isEmpty == false, "no fix in \(error)", sourceLocation: sourceLocation)
        return error
    }
}

extension Array {
    /// The element of a one-element array, else nil.
    var only: Element? { count == 1 ? first : nil }
}
