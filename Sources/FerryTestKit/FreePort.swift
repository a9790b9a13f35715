import NIOCore
import NIOPosix

/// A loopback port that was free a moment ago, for configs that must name a port before
/// anything listens on it (a cluster pointing at a listener, a port nobody listens on).
public enum FreePort {
    public static func pick() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close().get()
        return port
    }
}
