import FerryTestKit
import Foundation

/// Real gRPC peers from Python's grpcio (PyPI): a server with unary, server-, client- and
/// bidirectional-streaming methods plus failing, slow and trailer-setting ones, and a client
/// that exercises them through a channel and prints JSON. Messages are raw bytes (generic
/// handlers), so no generated code is needed.
enum GRPCPeer {
    static let script = #"""
import json, sys, threading, time
from concurrent import futures
import grpc

def status(code):
    return [c for c in grpc.StatusCode if c.value[0] == code][0]

def serve(port, name):
    def unary(req, ctx):
        ctx.set_trailing_metadata((("x-served-by", name),))
        return name.encode() + b":" + req
    def server_stream(req, ctx):
        for i in range(int(req.decode() or "3")):
            yield ("%s:%d" % (name, i)).encode()
    def client_stream(it, ctx):
        msgs = list(it)
        return ("%s:%d:%d" % (name, len(msgs), sum(len(m) for m in msgs))).encode()
    def bidi(it, ctx):
        for m in it:
            yield name.encode() + b":" + m
    def fail(req, ctx):
        ctx.abort(status(int(req.decode())), "failed on purpose")
    def slow(req, ctx):
        remaining = ctx.time_remaining()
        end = time.time() + int(req.decode()) / 1000.0
        while time.time() < end:
            if not ctx.is_active():
                print("cancelled", flush=True)
                return b""
            time.sleep(0.01)
        return ("%s:%s" % (name, "none" if remaining is None else "%.1f" % remaining)).encode()
    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()

def client(mode, port, args):
    channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    grpc.channel_ready_future(channel).result(timeout=10)
    call = lambda kind, method: getattr(channel, kind)("/test.Echo/" + method)
    out = {}
    try:
        if mode == "unary":
            reply, c = call("unary_unary", "Unary").with_call(args[0].encode(), timeout=10)
            out = {"reply": reply.decode(), "trailers": dict(c.trailing_metadata()), "code": c.code().value[0]}
        elif mode == "balance":
            counts = {}
            for i in range(int(args[0])):
                name = call("unary_unary", "Unary")(b"x", timeout=10).decode().split(":")[0]
                counts[name] = counts.get(name, 0) + 1
            out = {"counts": counts}
        elif mode == "streams":
            out["server"] = [m.decode() for m in call("unary_stream", "ServerStream")(b"5", timeout=10)]
            out["client"] = call("stream_unary", "ClientStream")(iter([b"a", b"bb", b"ccc", b"dddd"]), timeout=10).decode()
            out["bidi"] = [m.decode() for m in call("stream_stream", "Bidi")(iter([b"1", b"2", b"3"]), timeout=10)]
        elif mode == "fail":
            try:
                call("unary_unary", "Fail")(args[0].encode(), timeout=10)
                out = {"code": 0}
            except grpc.RpcError as e:
                out = {"code": e.code().value[0], "details": e.details()}
        elif mode == "slow":
            try:
                reply = call("unary_unary", "Slow")(args[0].encode(), timeout=float(args[1]))
                out = {"code": 0, "reply": reply.decode()}
            except grpc.RpcError as e:
                out = {"code": e.code().value[0], "details": e.details()}
        elif mode == "cancel":
            future = call("unary_unary", "Slow").future(b"5000", timeout=10)
            time.sleep(float(args[0]))
            future.cancel()
            out = {"cancelled": future.cancelled()}
    finally:
        channel.close()
    print(json.dumps(out), flush=True)

if sys.argv[1] == "serve":
    serve(int(sys.argv[2]), sys.argv[3])
else:
    client(sys.argv[1], int(sys.argv[2]), sys.argv[3:])
"""#

    /// Runs `servers` grpcio servers named `name-0`, `name-1`, ... on free ports for `body`.
    static func withServers<T>(_ count: Int, name: String = "grpc",
                               _ body: ([Int], [ChildProcess]) async throws -> T) async throws -> T {
        var ports: [Int] = []
        for _ in 0..<count { ports.append(try FreePort.pick()) }
        return try await start(ports.enumerated().map { ($1, "\(name)-\($0)") }, running: []) { try await body(ports, $0) }
    }

    private static func start<T>(_ pending: [(Int, String)], running: [ChildProcess],
                                 _ body: ([ChildProcess]) async throws -> T) async throws -> T {
        guard let (port, name) = pending.first else { return try await body(running) }
        return try await ChildProcess.with("/usr/bin/env", ["python3", "-u", "-c", script, "serve", String(port), name]) { child in
            let deadline = Date().addingTimeInterval(20)
            while !child.stdout.contains("ready") {
                guard child.isRunning, Date() < deadline else { throw GRPCPeerError(output: child.stdout + child.stderr) }
                try await Task.sleep(for: .milliseconds(50))
            }
            return try await start(Array(pending.dropFirst()), running: running + [child], body)
        }
    }

    /// One client run against `port`; its JSON line decoded as a dictionary.
    static func client(_ mode: String, port: Int, _ arguments: [String] = [], timeout: Double = 60) async throws -> [String: Any] {
        let finished = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", script, mode, String(port)] + arguments,
                                                  timeout: timeout)
        guard finished.status == 0, let line = finished.stdout.split(separator: "\n").last,
              let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw GRPCPeerError(output: finished.stdout + finished.stderr)
        }
        return object
    }

    struct GRPCPeerError: Error, CustomStringConvertible {
        var output: String
        var description: String { "grpcio peer failed:\n\(output)" }
    }
}
