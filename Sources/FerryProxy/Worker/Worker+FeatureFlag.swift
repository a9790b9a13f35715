import FerryConfig

extension Worker {
    /// Envoy's `Runtime::FeatureFlag`: the runtime key's boolean value if it has one, else the
    /// flag's default.
    func featureEnabled(_ flag: RuntimeFeatureFlag) -> Bool {
        // No runtime layer set (the common case): skip hashing the key.
        guard let key = flag.runtimeKey, !runtime.isEmpty else { return flag.defaultValue }
        return flag.value(runtime: runtime[key])
    }
}
