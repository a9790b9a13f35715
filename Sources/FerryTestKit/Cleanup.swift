/// Runs `body`, then `cleanup`, whether `body` returns or throws: the async `defer` Swift lacks,
/// for servers, connections and processes a test must stop whatever happens.
public func withCleanup<T>(_ body: () async throws -> T, cleanup: () async -> Void) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
