#!/usr/bin/env python3
"""A test RFC 3161 TSA on 127.0.0.1: a minimal HTTP responder in front of
`openssl ts -reply`. The URL path picks the behaviour:

  /good          a proper reply
  /bad-nonce     a proper reply to the request with its nonce changed
  /bad-imprint   a proper reply to the request with its messageImprint changed
  /reject        status rejection (badAlg), made by OpenSSL for a request it refuses
  /http500       HTTP 500
  /garbage       HTTP 200 with bytes that are not a TimeStampResp
  /slow          waits 5 s, then replies properly
  /flaky         HTTP 503 on every odd-numbered request to it, else proper

Every request is appended to LOG as "<path>" (and its arrival time, in
monotonic seconds, to LOG.times), and the last one is kept in LOG.last.tsq. The port goes to PORTFILE.
usage: tsa.py DIR PORTFILE LOG   (DIR holds tsa.cnf, tsa.pem, tsa.key, chain.pem)
"""
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time

DIR, PORTFILE, LOG = sys.argv[1:4]
lock = threading.Lock()
counts = {}


def der_children(buf, off, end):
    """(tag, header_start, value_start, value_end) of each element in buf[off:end]."""
    out = []
    while off < end:
        tag = buf[off]
        n = buf[off + 1]
        vstart = off + 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(buf[off + 2:off + 2 + k], "big")
            vstart = off + 2 + k
        out.append((tag, off, vstart, vstart + n))
        off = vstart + n
    return out


def tamper(query, what):
    """Flip the last byte of the nonce or of the imprint hash in a TimeStampReq."""
    q = bytearray(query)
    top = der_children(q, 0, len(q))[0]
    fields = der_children(q, top[2], top[3])
    if what == "imprint":
        mi = fields[1]
        h = der_children(q, mi[2], mi[3])[1]  # SEQUENCE { alg, OCTET STRING }
        q[h[3] - 1] ^= 0x01
    else:
        nonce = [f for f in fields[2:] if f[0] == 0x02][0]
        q[nonce[3] - 1] ^= 0x01
    return bytes(q)


def ts_reply(query):
    with tempfile.TemporaryDirectory() as d:
        qf, rf = os.path.join(d, "q.tsq"), os.path.join(d, "r.tsr")
        with open(qf, "wb") as f:
            f.write(query)
        with lock:  # openssl ts -reply updates the serial file
            subprocess.run(["openssl", "ts", "-reply", "-config", os.path.join(DIR, "tsa.cnf"),
                            "-queryfile", qf, "-out", rf], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(rf, "rb") as f:
            return f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/timestamp-reply"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        path = self.path
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            counts[path] = counts.get(path, 0) + 1
            n = counts[path]
            with open(LOG, "a") as f:
                f.write(path + "\n")
            with open(LOG + ".times", "a") as f:  # when it came (monotonic s), for backoff
                f.write("%.6f\n" % time.monotonic())
            with open(LOG + ".last.tsq", "wb") as f:  # the last request, for inspection
                f.write(body)
        if self.headers.get("Content-Type") != "application/timestamp-query":
            return self.send(415, b"wrong content type", "text/plain")
        if path == "/good":
            return self.send(200, ts_reply(body))
        if path == "/bad-nonce":
            return self.send(200, ts_reply(tamper(body, "nonce")))
        if path == "/bad-imprint":
            return self.send(200, ts_reply(tamper(body, "imprint")))
        if path == "/reject":
            # The request names an algorithm this TSA's config does not accept.
            return self.send(200, ts_reply_rejected(body))
        if path == "/http500":
            return self.send(500, b"internal error", "text/plain")
        if path == "/garbage":
            return self.send(200, b"\x30\x03\x02\x01\x00 not a reply")
        if path == "/slow":
            time.sleep(5)
            return self.send(200, ts_reply(body))
        if path == "/flaky":
            if n % 2 == 1:
                return self.send(503, b"try again", "text/plain")
            return self.send(200, ts_reply(body))
        return self.send(404, b"no such TSA", "text/plain")


def ts_reply_rejected(query):
    with tempfile.TemporaryDirectory() as d:
        qf, rf = os.path.join(d, "q.tsq"), os.path.join(d, "r.tsr")
        with open(qf, "wb") as f:
            f.write(query)
        with lock:
            subprocess.run(["openssl", "ts", "-reply", "-config", os.path.join(DIR, "tsa.cnf"),
                            "-section", "tsa_reject", "-queryfile", qf, "-out", rf], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(rf, "rb") as f:
            return f.read()


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
