extension Runtime {
    /// `RuntimeLayer.DiskLayer`: a directory of files, one runtime key per file (the file's path
    /// under the directory with `/` read as `.`), read again when it changes. Envoy serves the
    /// directory `<symlink_root>/<subdirectory>[/<service cluster>]` and re-reads it when
    /// `symlink_root` (a symlink) is moved to a new target.
    public struct DiskLayer: Sendable, Equatable {
        public var symlinkRoot: String
        public var subdirectory: String
        /// Read `<subdirectory>/<node.cluster>` instead, so services can share one tree.
        public var appendServiceCluster: Bool

        public init(symlinkRoot: String, subdirectory: String = "", appendServiceCluster: Bool = false) {
            self.symlinkRoot = symlinkRoot
            self.subdirectory = subdirectory
            self.appendServiceCluster = appendServiceCluster
        }

        /// The directory this layer reads, as Envoy builds it.
        public func directory(serviceCluster: String) -> String {
            var path = symlinkRoot + "/" + subdirectory
            if appendServiceCluster { path += "/" + serviceCluster }
            return path
        }

        static func decode(_ r: ObjectReader) -> DiskLayer? {
            defer { r.finish() }
            let subdirectory = r.string("subdirectory") ?? ""
            let append = r.bool("append_service_cluster") ?? false
            let fix = "add `symlink_root: /srv/runtime/current` (a symlink to the live tree)"
            guard let root = r.requiredString("symlink_root", fix: fix) else { return nil }
            return DiskLayer(symlinkRoot: root, subdirectory: subdirectory, appendServiceCluster: append)
        }
    }

    public var diskLayers: [(name: String, layer: DiskLayer)] {
        layers.compactMap { layer in layer.disk.map { (layer.name, $0) } }
    }

    /// The layers with their values, in order, as `/runtime` lists them: the admin layer holds
    /// `admin`; a disk layer holds its entry in `disk` (by layer name) and is left out when it
    /// has none (its directory does not exist), as in Envoy.
    public func effectiveLayers(admin: [String: String], disk: [String: [String: String]])
        -> [(name: String, values: [String: String])]
    {
        layers.compactMap { layer in
            if layer.disk != nil { return disk[layer.name].map { (layer.name, $0) } }
            return (layer.name, layer.values ?? admin)
        }
    }
}
