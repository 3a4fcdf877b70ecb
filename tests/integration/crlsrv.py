#!/usr/bin/env python3
"""A CRL distribution point on 127.0.0.1 for the integration tests: GET /NAME
answers with the bytes of DIR/NAME (404 when absent). When DIR/NAME.delay
exists, the reply waits that many seconds first (a slow server). Every
request is appended to LOG as "<path>". The port goes to PORTFILE; PORT (0 =
any) lets a restarted server take the same one.
usage: crlsrv.py DIR PORTFILE LOG [PORT]
"""
import http.server
import os
import sys
import time

DIR, PORTFILE, LOG = sys.argv[1:4]
PORT = int(sys.argv[4]) if len(sys.argv) > 4 else 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = os.path.basename(self.path)
        with open(LOG, "a") as f:
            f.write(self.path + "\n")
        path = os.path.join(DIR, name)
        try:
            with open(path + ".delay") as f:
                time.sleep(float(f.read().strip()))
        except OSError:
            pass
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            body = None
        try:
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/pkix-crl")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout, size cap)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
srv.daemon_threads = True
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
