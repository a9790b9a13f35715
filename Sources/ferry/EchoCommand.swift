import ArgumentParser
import FerryTestKit

/// `ferry echo`: a small upstream for trying routes.
struct EchoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "Run an echo upstream: JSON of the request; /status/{code}, /delay/{ms}, /bytes/{n}, /stream/{n}.")

    @Option(name: .long, help: "Port to listen on (0 = any free port).")
    var port: Int

    @Option(name: .long, help: "Name reported in every answer.")
    var name: String = "echo"

    @Option(name: .long, help: "Address to bind.")
    var address: String = "127.0.0.1"

    @Option(name: .long, help: "Milliseconds to hold back every answer (a slow endpoint).")
    var delay: Int64 = 0

    func run() async throws {
        let server = try await EchoServer.start(name: name, host: address, port: port, delay: .milliseconds(max(delay, 0)))
        print("echo \(name) listening on \(address):\(server.port)")
        try await server.channel.closeFuture.get()
    }
}
