import Foundation
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

    /// Parses and runs the command; a usage error exits 1, as Envoy does (ArgumentParser's
    /// default is 64), after printing the same message.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                exit(withError: ExitCode(1))
            }
            exit(withError: error)
        }
    }

    #if DEBUG
    static let buildType = "DEBUG"
    #else
    static let buildType = "RELEASE"
    #endif
}
