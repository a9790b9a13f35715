"""Upstream for the Envoy differential tests, spoken to over HTTP/1.1 by Envoy's transcoder.

/pkg.Service/Echo: answers with the gRPC frame it received (content-type application/grpc), so
Envoy transcodes it back to JSON. /pkg.Service/StreamBooks: answers with the gRPC frames in
hex on the command line (a server stream). Any other path: answers 200 with the raw request body as
application/octet-stream (Envoy passes that through untouched) and the request path in
x-upstream-path, so the test sees exactly what Envoy sent upstream. Prints its port, then serves.
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def handle_any(self):
        body = b''
        if self.headers.get('transfer-encoding', '').lower() == 'chunked':
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get('content-length') or 0))
        echo = self.path.endswith('/Echo') or self.path.endswith('/StreamBooks')
        if self.path.endswith('/StreamBooks'):
            body = b''.join(b'\x00' + len(m).to_bytes(4, 'big') + m for m in STREAM)
        self.send_response(200)
        self.send_header('content-type', 'application/grpc' if echo else 'application/octet-stream')
        if echo:
            self.send_header('grpc-status', '0')
        self.send_header('x-upstream-path', self.path)
        if echo:
            # Envoy would keep a content-length through transcoding; end the body by closing.
            self.send_header('connection', 'close')
            self.close_connection = True
        else:
            self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def log_message(self, *args):
        pass


STREAM = [bytes.fromhex(m) for m in sys.argv[1:]]
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
