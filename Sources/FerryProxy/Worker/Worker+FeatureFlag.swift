import FerryConfig

extension Worker {
    /// Envoy's `Runtime::FeatureFlag`: the runtime key's boolean value if it has one, else the
    /// flag's default. Inlined like the fractional `featureEnabled`: without a runtime key or
    /// runtime layer (the common case) the key is neither copied nor hashed.
    @inline(__always)
    func featureEnabled(_ flag: RuntimeFeatureFlag) -> Bool {
        if flag.runtimeKey == nil || runtime.isEmpty { return flag.defaultValue }
        return featureFlagFromRuntime(flag)
    }

    @inline(never)
    private func featureFlagFromRuntime(_ flag: RuntimeFeatureFlag) -> Bool {
        guard let key = flag.runtimeKey else { return flag.defaultValue }
        return flag.value(runtime: runtime[key])
    }
}
