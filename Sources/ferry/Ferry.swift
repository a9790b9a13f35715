import ArgumentParser

/// `ferry`: the service mesh data plane and its tools. `ferry -c envoy.yaml` runs the proxy, as
/// `envoy -c envoy.yaml` does.
@main
struct Ferry: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Ferry: an Envoy-compatible proxy, written in Swift.",
        version: "ferry version: \(version)/swift-6/\(buildType)",
        subcommands: [ProxyCommand.self, EchoCommand.self, QuickstartCommand.self],
        defaultSubcommand: ProxyCommand.self
    )

    #if DEBUG
    static let buildType = "DEBUG"
    #else
    static let buildType = "RELEASE"
    #endif
}
