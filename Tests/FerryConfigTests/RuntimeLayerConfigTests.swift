@testable import FerryConfig
import Testing

/// `layered_runtime` disk layers and admin layers, and how runtime text is read as a number or
/// a fractional percent (Envoy's `getInteger` and `featureEnabled`).
@Suite("Runtime layers")
struct RuntimeLayerConfigTests {
    static func runtime(_ layers: String) -> String { "layered_runtime:\n  layers:\n" + layers }

    @Test("a disk layer is read with its directory; layers combine in order with disk and admin values")
    func diskLayer() throws {
        let yaml = Self.runtime("""
              - {name: base, static_layer: {a: 1, b: 1}}
              - {name: disk, disk_layer: {symlink_root: /srv/runtime/current, subdirectory: envoy, append_service_cluster: true}}
              - {name: admin, admin_layer: {}}
            """) + "\nnode: {cluster: web}"
        let bootstrap = try #require(Fixture.load(yaml))
        let runtime = bootstrap.runtime
        #expect(runtime.diskLayers.map(\.name) == ["disk"])
        let disk = try #require(runtime.diskLayers.first?.layer)
        #expect(disk == .init(symlinkRoot: "/srv/runtime/current", subdirectory: "envoy", appendServiceCluster: true))
        #expect(disk.directory(serviceCluster: bootstrap.node.cluster) == "/srv/runtime/current/envoy/web")
        #expect(Runtime.DiskLayer(symlinkRoot: "/r").directory(serviceCluster: "x") == "/r/")
        #expect(runtime.hasAdminLayer)

        let values = runtime.values(admin: ["b": "3"], disk: ["disk": ["a": "2", "b": "2", "c": "2"]])
        #expect(values == ["a": "2", "b": "3", "c": "2"])
        // A disk layer without values (its directory is missing) is left out, as Envoy does.
        #expect(runtime.effectiveLayers(admin: [:], disk: [:]).map(\.name) == ["base", "admin"])
        #expect(runtime.values(admin: [:]) == ["a": "1", "b": "1"])
    }

    @Test("layer errors: a disk layer without symlink_root, a repeated name, a second admin layer, RTDS")
    func layerErrors() {
        Fixture.expectOneError(Self.runtime("  - {name: d, disk_layer: {subdirectory: envoy}}"), at: "{subdirectory",
                               path: "layered_runtime.layers[0].disk_layer.symlink_root", message: "required field is missing")
        Fixture.expectOneError(Self.runtime("  - {name: a, static_layer: {}}\n  - {name: a, admin_layer: {}}"), at: "a,", occurrence: 2,
                               path: "layered_runtime.layers[1].name", message: "duplicate layer name \"a\"")
        Fixture.expectOneError(Self.runtime("  - {name: a, admin_layer: {}}\n  - {name: b, admin_layer: {}}"), at: "admin_layer",
                               occurrence: 2, path: "layered_runtime.layers[1].admin_layer", message: "at most one admin layer")
        Fixture.expectOneError(Self.runtime("  - {name: r, rtds_layer: {name: x}}"), at: "rtds_layer",
                               path: "layered_runtime.layers[0].rtds_layer", message: "RuntimeLayer.rtds_layer is not supported yet")
    }

    @Test("runtime numbers are read as Envoy's getInteger does: non-negative, truncated")
    func integers() {
        #expect(RuntimeValue.integer("42") == 42)
        #expect(RuntimeValue.integer(" 7\n") == 7)
        #expect(RuntimeValue.integer("2.9") == 2)
        #expect(RuntimeValue.integer("1e3") == 1000)
        #expect(RuntimeValue.integer("-1") == nil)
        #expect(RuntimeValue.integer("true") == nil)
        #expect(RuntimeValue.integer("abc") == nil)
        #expect(RuntimeValue.integer("") == nil)
    }

    @Test("runtime percentages: a number is a percentage over 100 whatever the default's denominator; YAML fractions too")
    func percentages() {
        #expect(FractionalPercent.parse(runtime: "50") == FractionalPercent(numerator: 50, denominator: .hundred))
        #expect(FractionalPercent.parse(runtime: "150") == FractionalPercent(numerator: 100, denominator: .hundred))
        #expect(FractionalPercent.parse(runtime: "2.9") == FractionalPercent(numerator: 2, denominator: .hundred))
        #expect(FractionalPercent.parse(runtime: "25/TEN_THOUSAND") == FractionalPercent(numerator: 25, denominator: .tenThousand))
        #expect(FractionalPercent.parse(runtime: "{numerator: 5000, denominator: TEN_THOUSAND}")
                    == FractionalPercent(numerator: 5000, denominator: .tenThousand))
        #expect(FractionalPercent.parse(runtime: "numerator: 3\ndenominator: MILLION\n")
                    == FractionalPercent(numerator: 3, denominator: .million))
        #expect(FractionalPercent.parse(runtime: "numerator: 100") == FractionalPercent(numerator: 100, denominator: .hundred))
        #expect(FractionalPercent.parse(runtime: "{\"numerator\": 1, \"denominator\": 2}") == FractionalPercent(numerator: 1, denominator: .million))
        #expect(FractionalPercent.parse(runtime: "{numerator: 1, bogus: 2}") == nil)
        #expect(FractionalPercent.parse(runtime: "abc") == nil)
        #expect(FractionalPercent.parse(runtime: "-5") == nil)
    }
}
