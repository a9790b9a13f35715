import FerryTestKit
import Foundation

/// A scriptable HTTP/2 client for tests that need to see frames: Python's `h2` (PyPI, installed
/// by scripts/install-test-deps) driving a plain socket. Each mode prints one JSON object.
enum H2Client {
    static let script = #"""
import json, socket, sys, time, urllib.request
import hpack
import h2.config, h2.connection, h2.events

mode, port = sys.argv[1], int(sys.argv[2])
args = sys.argv[3:]
out = {"events": []}

def connect(window=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    if window is not None:
        c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    s.sendall(c.data_to_send())
    return s, c

def receive(s):
    """The next bytes; None after a timeout, b"" (noted in out) when the server closed."""
    try:
        data = s.recv(65536)
    except socket.timeout:
        return None
    if not data:
        out["closed"] = True
    return data

def take_frames(buf, types):
    """Appends the type of each whole frame at the start of `buf`; returns the rest."""
    while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[0:3], "big"):
        types.append(buf[3])
        buf = buf[9 + int.from_bytes(buf[0:3], "big"):]
    return buf

def frame_details(frame):
    """One whole frame as reported: type, stream, and END_STREAM, ACK or GOAWAY's fields."""
    t, flags, sid = frame[3], frame[4], int.from_bytes(frame[5:9], "big") & 0x7FFFFFFF
    entry = {"type": t, "stream": sid}
    if t in (0, 1):
        entry["end_stream"] = bool(flags & 1)
    elif t == 6:
        entry["ack"] = bool(flags & 1)
    elif t == 7:
        entry["last_stream"] = int.from_bytes(frame[9:13], "big") & 0x7FFFFFFF
        entry["error"] = int.from_bytes(frame[13:17], "big")
    return entry

def read_until_closed(s, seconds):
    """Reads until the server closes (or resets) or `seconds` pass; the types of the whole
    frames that arrived are reported (after the server's preface)."""
    s.settimeout(0.2)
    deadline, buf, types = time.time() + seconds, b"", []
    while time.time() < deadline and not out.get("closed"):
        try:
            data = receive(s)
        except ConnectionResetError:
            out["closed"] = True
            data = None
        if data:
            buf = take_frames(buf + data, types)
    out["frame_types"] = types

def pump(s, c, until, seconds, ack=True):
    deadline = time.time() + seconds
    s.settimeout(0.2)
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            if until():
                return True
            continue
        if not data:
            out["closed"] = True
            return until()
        pending[0] += data
        # Frame by frame: after a GOAWAY h2 refuses what follows (the server's PING), and
        # only the close matters then.
        while len(pending[0]) >= 9 and len(pending[0]) >= 9 + int.from_bytes(pending[0][0:3], "big"):
            size = 9 + int.from_bytes(pending[0][0:3], "big")
            frame, pending[0] = pending[0][:size], pending[0][size:]
            if out.get("goaway"):
                if frame[3] == 6 and not frame[4] & 1:  # answer the PING as a client would
                    if not send(s, frame[:4] + bytes([1]) + frame[5:]):
                        return until()
                continue
            for e in c.receive_data(frame):
                handle(e, c, ack)
        if not send(s, c.data_to_send()):
            return until()
        if until():
            return True
    return until()

def send(s, data):
    """Sends `data`; False (the close noted in out) when the server has closed already: after
    its GOAWAY a late write, such as the PING's answer, may meet the close."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        out["closed"] = True
        return False

streams = {}
bodies = {}  # stream id -> the DATA payloads received on it
pending = [b""]
def handle(e, c, ack):
    name = type(e).__name__
    if isinstance(e, h2.events.ResponseReceived):
        st = streams.setdefault(e.stream_id, {})
        st["status"] = dict(e.headers)[b":status"].decode()
        st["never_indexed"] = [h[0].decode() for h in e.headers if isinstance(h, hpack.NeverIndexedHeaderTuple)]
    elif isinstance(e, h2.events.DataReceived):
        st = streams.setdefault(e.stream_id, {})
        st["bytes"] = st.get("bytes", 0) + len(e.data)
        bodies.setdefault(e.stream_id, []).append(e.data)
        if ack:
            c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
    elif isinstance(e, h2.events.TrailersReceived):
        streams.setdefault(e.stream_id, {})["trailers"] = {k.decode(): v.decode() for k, v in e.headers}
    elif isinstance(e, h2.events.StreamEnded):
        streams.setdefault(e.stream_id, {})["ended"] = True
    elif isinstance(e, h2.events.StreamReset):
        streams.setdefault(e.stream_id, {})["reset"] = int(e.error_code)
    elif isinstance(e, h2.events.ConnectionTerminated):
        out["goaway"] = {"error": int(e.error_code), "last_stream": e.last_stream_id}
    elif isinstance(e, h2.events.RemoteSettingsChanged):
        out["settings"] = {int(k): v.new_value for k, v in e.changed_settings.items()}
    out["events"].append(name)

def request(c, sid, path, method="GET", end=True):
    c.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                         (":authority", "127.0.0.1:%d" % port)], end_stream=end)

if mode == "settings":
    s, c = connect()
    pump(s, c, lambda: "settings" in out, 5)
elif mode == "drain":
    # One request done, then the admin drains listeners: a GOAWAY must follow, then the close.
    s, c = connect()
    request(c, 1, args[1]); s.sendall(c.data_to_send())
    pump(s, c, lambda: streams.get(1, {}).get("ended"), 5)
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s/drain_listeners" % args[0], method="POST"), timeout=5).read()
    pump(s, c, lambda: out.get("closed", False), 10)
elif mode == "slow-reader":
    # Asks for a large body with a 64 KiB window and never opens it further.
    s, c = connect(window=65535)
    request(c, 1, args[0]); s.sendall(c.data_to_send())
    pump(s, c, lambda: False, float(args[1]), ack=False)
elif mode == "reset":
    # Receives the response head, then cancels the stream.
    s, c = connect()
    request(c, 1, args[0]); s.sendall(c.data_to_send())
    pump(s, c, lambda: "status" in streams.get(1, {}), 5)
    c.reset_stream(1, error_code=8); s.sendall(c.data_to_send())
    time.sleep(0.5)
elif mode == "upload":
    # POSTs a body of args[1] bytes as fast as the server's windows allow, for at most
    # args[2] seconds, noting (time, bytes sent) after every send. With args[3] == "connect"
    # the stream is an extended CONNECT (:protocol websocket) and the bytes are the tunnel's.
    s, c = connect()
    total, seconds = int(args[1]), float(args[2])
    if args[3:] == ["connect"]:
        pump(s, c, lambda: "settings" in out, 5)
        c.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":path", args[0]),
                           (":scheme", "http"), (":authority", "127.0.0.1:%d" % port)])
    else:
        c.send_headers(1, [(":method", "POST"), (":path", args[0]), (":scheme", "http"),
                           (":authority", "127.0.0.1:%d" % port)])
    s.sendall(c.data_to_send())
    sent, chunk, marks = 0, b"x" * 16384, []
    deadline = time.time() + seconds
    s.settimeout(0.05)
    while sent < total and time.time() < deadline:
        room = min(c.local_flow_control_window(1), c.max_outbound_frame_size, total - sent)
        if room > 0:
            c.send_data(1, chunk[:room], end_stream=(sent + room == total))
            sent += room
            s.sendall(c.data_to_send())
            marks.append((time.time(), sent))
            continue
        data = receive(s)
        if data is None:
            continue
        if not data:
            break
        for e in c.receive_data(data):
            handle(e, c, True)
        s.sendall(c.data_to_send())
    out["sent"] = sent
    out["marks"] = marks
elif mode == "lifecycle":
    # A request for args[0] (none with "-"), then, with an admin port in args[1], a drain of the
    # listeners once the request went out. Every frame the server sends is reported, and how
    # long after the request (or the drain) it closed; its PINGs are answered unless args[2]
    # is "noack". Reads for args[3] seconds at most.
    s, c = connect()
    if args[0] != "-":
        request(c, 1, args[0])
    s.sendall(c.data_to_send())
    if args[1] != "-":
        time.sleep(0.2)  # the request reaches the server before the drain does
        urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s/drain_listeners" % args[1], method="POST"), timeout=5).read()
    start, buf, frames = time.time(), b"", []
    s.settimeout(0.1)
    while time.time() < start + float(args[3]):
        try:
            data = receive(s)
        except ConnectionResetError:
            out["closed"] = True
            data = b""
        if data is None:
            continue
        if not data:
            out["closed_after"] = round(time.time() - start, 2)
            break
        buf += data
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[0:3], "big"):
            size = 9 + int.from_bytes(buf[0:3], "big")
            frame, buf = buf[:size], buf[size:]
            frames.append(frame_details(frame))
            if frame[3] == 4 and not frame[4] & 1:
                send(s, bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))
            elif frame[3] == 6 and not frame[4] & 1 and args[2] != "noack":
                send(s, frame[:4] + bytes([1]) + frame[5:])
    out["frames"] = frames
elif mode == "silent":
    # Sends the preface and its SETTINGS, acknowledges the server's, then answers nothing:
    # the frame types the server sends are reported, and whether it closed.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    types, buf, deadline = [], b"", time.time() + float(args[0])
    s.settimeout(0.2)
    while time.time() < deadline:
        data = receive(s)
        if data is None:
            continue
        if not data:
            break
        buf += data
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if len(buf) < 9 + length:
                break
            t, flags = buf[3], buf[4]
            if t == 4 and not flags & 1:
                s.sendall(bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))
            types.append(t)
            buf = buf[9 + length:]
    out["frame_types"] = types
elif mode == "websocket":
    # RFC 8441: once the server's SETTINGS allow it, an extended CONNECT (:protocol websocket)
    # for args[0]; on 200 each later argument goes up as DATA and the bytes that come back are
    # collected; then END_STREAM, and the stream's end is awaited.
    s, c = connect()
    pump(s, c, lambda: "settings" in out, 5)
    c.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":path", args[0]), (":scheme", "http"),
                       (":authority", "127.0.0.1:%d" % port), ("sec-websocket-version", "13"),
                       ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")])
    s.sendall(c.data_to_send())
    received = lambda: b"".join(bodies.get(1, []))
    pump(s, c, lambda: "status" in streams.get(1, {}), 5)
    out["echoes"] = []
    if streams.get(1, {}).get("status") == "200":
        for message in args[1:]:
            before = len(received())
            c.send_data(1, message.encode()); s.sendall(c.data_to_send())
            pump(s, c, lambda: len(received()) >= before + len(message), 5)
            out["echoes"].append(received()[before:].decode(errors="replace"))
        c.end_stream(1); s.sendall(c.data_to_send())
        pump(s, c, lambda: streams.get(1, {}).get("ended") or streams.get(1, {}).get("reset") is not None, 5)
    out["body"] = received().decode(errors="replace")
elif mode == "busy":
    # Like "silent" (no PING is answered), but a GET for args[1] goes out every 100 ms, so
    # frames keep arriving at the server for args[0] seconds.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    s.sendall(c.data_to_send() + bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))  # and ACK the server's SETTINGS
    types, buf, deadline, sid, next_request = [], b"", time.time() + float(args[0]), 1, 0
    s.settimeout(0.05)
    while time.time() < deadline and not out.get("closed"):
        if time.time() >= next_request:
            request(c, sid, args[1]); sid += 2
            try:
                s.sendall(c.data_to_send())
            except (BrokenPipeError, ConnectionResetError):
                out["closed"] = True
            next_request = time.time() + 0.1
        try:
            data = receive(s)
        except ConnectionResetError:
            out["closed"] = True
            break
        if data:
            buf = take_frames(buf + data, types)
    out["frame_types"] = types
elif mode == "trailers":
    # POSTs args[1] bytes to args[0], then ends the request with trailers args[2:] (name=value);
    # the response body is reported.
    s, c = connect()
    c.send_headers(1, [(":method", "POST"), (":path", args[0]), (":scheme", "http"),
                       (":authority", "127.0.0.1:%d" % port), ("te", "trailers")])
    left = int(args[1])
    while left > 0:
        c.send_data(1, b"x" * min(left, 16384))
        left -= min(left, 16384)
    c.send_headers(1, [tuple(t.split("=", 1)) for t in args[2:]], end_stream=True)
    s.sendall(c.data_to_send())
    pump(s, c, lambda: streams.get(1, {}).get("ended"), 5)
    out["body"] = b"".join(bodies.get(1, [])).decode()
elif mode == "malformed":
    # args[0]: JSON list of cases, each {"headers": [[name, value], ...]}, maybe "data" (a
    # string sent as one DATA frame) and maybe "trailers" (ending the stream; else the last
    # frame does). Stream 1, 3, 5, ... carry them unvalidated and unnormalised, all on one
    # connection; it reads until every stream ended or was reset.
    cases = json.loads(args[0])
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False,
        validate_inbound_headers=False, split_outbound_cookies=False))
    c.initiate_connection()
    s.sendall(c.data_to_send())
    for i, case in enumerate(cases):
        sid = 1 + 2 * i
        trailers, data = case.get("trailers"), case.get("data")
        c.send_headers(sid, [tuple(h) for h in case["headers"]], end_stream=trailers is None and data is None)
        if data is not None:
            c.send_data(sid, data.encode(), end_stream=trailers is None)
        if trailers is not None:
            c.send_headers(sid, [tuple(h) for h in trailers], end_stream=True)
    s.sendall(c.data_to_send())
    done = lambda: all(streams.get(1 + 2 * i, {}).get("ended") or "reset" in streams.get(1 + 2 * i, {})
                       for i in range(len(cases)))
    pump(s, c, done, 10)
elif mode == "frames":
    # The preface, SETTINGS, then args[1] frames of type args[0] (PRIORITY on stream 1,
    # connection WINDOW_UPDATE, or "raw": the frame bytes in hex as args[1], once) in one
    # write; then reads until the server closes or 3 s pass.
    kind = args[0]
    count = 1 if kind == "raw" else int(args[1])
    one = (bytes.fromhex(args[1]) if kind == "raw"
           else bytes([0, 0, 5, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 16]) if kind == "priority"
           else bytes([0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1]))
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]) + one * count)
    read_until_closed(s, 3)
elif mode == "indexing":
    # GET args[0]; reports the response's fields sent never-indexed and the names the
    # response added to this client's HPACK dynamic table (RFC 7541 §6.2).
    s, c = connect()
    request(c, 1, args[0])
    s.sendall(c.data_to_send())
    pump(s, c, lambda: streams.get(1, {}).get("ended"), 5)
    out["never_indexed"] = streams.get(1, {}).get("never_indexed")
    out["table"] = sorted({n.decode() for n, v in c.decoder.header_table.dynamic_entries})
elif mode == "never-indexed":
    # GET args[0] with the fields args[1:] ("name=value"), each sent never-indexed (RFC 7541
    # §6.2.3); the response body is reported.
    s, c = connect()
    c.send_headers(1, [(":method", "GET"), (":path", args[0]), (":scheme", "http"), (":authority", "127.0.0.1:%d" % port)]
                   + [hpack.NeverIndexedHeaderTuple(*f.split("=", 1)) for f in args[1:]], end_stream=True)
    s.sendall(c.data_to_send())
    pump(s, c, lambda: streams.get(1, {}).get("ended"), 5)
    out["body"] = b"".join(bodies.get(1, [])).decode()
elif mode == "pipeline":
    # args[1] batches of args[2] requests for args[0], 20 ms apart. With args[3] == "read" each
    # batch's responses are read before the next batch; with "stall" nothing is read (a
    # small socket receive buffer, so the server's socket fills), and after 2 s it reads to
    # learn whether the server closed the connection meanwhile.
    path, batches, size, reading = args[0], int(args[1]), int(args[2]), args[3] == "read"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if not reading:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    c.initiate_connection()
    c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    c.increment_flow_control_window(2**31 - 1 - 65535)
    s.sendall(c.data_to_send())
    pump(s, c, lambda: "settings" in out, 5)
    sid = 1
    try:
        for b in range(batches):
            first = sid
            for i in range(size):
                request(c, sid, path)
                sid += 2
            s.sendall(c.data_to_send())
            if reading:
                pump(s, c, lambda: all(streams.get(x, {}).get("ended") for x in range(first, sid, 2)), 10)
            else:
                time.sleep(0.02)
    except (BrokenPipeError, ConnectionResetError):
        out["closed"] = True
    out["requests"] = (sid - 1) // 2
    if not reading:
        time.sleep(2)
        read_until_closed(s, 20)
    out["ended"] = sum(1 for v in streams.values() if v.get("ended"))
    streams.clear()
    bodies.clear()
out["streams"] = {str(k): v for k, v in streams.items()}
print(json.dumps(out))
"""#

    struct Report: Decodable {
        var events: [String]
        var closed: Bool?
        var settings: [String: Int]?
        /// Mode "indexing": response fields sent never-indexed, and the names in the client's
        /// HPACK dynamic table afterwards.
        var never_indexed: [String]?
        var table: [String]?
        var goaway: GoAway?
        var streams: [String: Stream]?
        var frame_types: [Int]?
        var sent: Int?
        /// The response body (`trailers`, `websocket`, `never-indexed`).
        var body: String?
        /// What came back for each message sent through the tunnel (`websocket`).
        var echoes: [String]?
        /// Requests sent and responses ended (`pipeline`).
        var requests: Int?
        var ended: Int?
        /// (time since the epoch, bytes sent by then).
        var marks: [[Double]]?
        /// Every frame the server sent, and how long after the request or drain it closed (`lifecycle`).
        var frames: [Frame]?
        var closed_after: Double?

        struct Frame: Decodable {
            var type: Int
            var stream: Int
            var end_stream: Bool?
            var ack: Bool?
            var last_stream: Int?
            var error: Int?
        }

        struct GoAway: Decodable {
            var error: Int
            var last_stream: Int
        }

        struct Stream: Decodable {
            var status: String?
            var bytes: Int?
            var ended: Bool?
            var reset: Int?
            var trailers: [String: String]?
        }
    }

    static func run(_ mode: String, port: Int, _ arguments: [String] = [], timeout: Double = 30) async throws -> Report {
        let finished = try await ChildProcess.run("/usr/bin/env", ["python3", "-c", script, mode, String(port)] + arguments,
                                                  timeout: timeout)
        guard finished.status == 0, let line = finished.stdout.split(separator: "\n").last else {
            throw H2ClientError(output: finished.stdout + finished.stderr)
        }
        return try JSONDecoder().decode(Report.self, from: Data(line.utf8))
    }

    struct H2ClientError: Error, CustomStringConvertible {
        var output: String
        var description: String { "h2 client failed:\n\(output)" }
    }
}
