#!/usr/bin/env python3
"""Reference client for signerd's wire protocol (docs/PROTOCOL.md, version 1).

Written from docs/PROTOCOL.md alone, with the Python 3.11 standard library
only, as the model for publishers in other languages (C#, PowerShell).

Protocol messages implemented (section 3 of the document):

    HELLO / HELLO_OK          SignerdClient.hello()
    SIGN_CAB / SIGNATURE      SignerdClient.sign_cab(), .sign_cab_many()
    SIGN_SCRIPT / SIGNATURE   SignerdClient.sign_script(), .sign_script_many()
    GET_CERT / CERT           SignerdClient.get_cert()
    LIST_KEYS / KEYS          SignerdClient.list_keys()
    STATUS / STATUS_OK        SignerdClient.status()
    ERROR                     raised as SignerdError(code, name, message)

The admin channel (0x40-0x4f) is left to `signer admin`.

CAB support (sections 4 and 5): cab_digest() computes the Authenticode digest
of a CAB as it will be once signed (inserting the 20-byte signature reserve
in memory when the CAB has none), cab_embed() builds the signed file, and
check_signature() performs the "careful client" checks of section 4 on the
returned PKCS#7 (content types, the digest and its algorithm, the signer is
the key's certificate) with a small DER walker. It does not check the
cryptographic signature itself: the standard library has no RSA or ECDSA;
use `osslsigncode verify` or `signer verify-cab` for that.

PowerShell scripts (section 5.4): script_parse() checks the encoding (UTF-8,
UTF-8 with a byte-order mark, UTF-16LE) and any existing signature block,
script_digest() hashes the text as UTF-16LE with the byte-order mark, and
script_embed() appends (or replaces) the signature block in the script's own
encoding. check_signature(..., subject="script") insists on a script
signature (SPC_SIPINFO_OBJID), so that a CAB signature is never embedded in a
script or the reverse.

Command line (exit status 0 ok, 1 refused or failed, 2 usage error):

    signerd_client.py [--socket PATH] sign-cab [--key K] [--digest ALG]
                      [--program P] [--url U] -o OUT IN.cab
    signerd_client.py digest-cab [--digest ALG] IN.cab
    signerd_client.py [--socket PATH] sign-script [--key K] [--digest ALG]
                      [--program P] [--url U] -o OUT IN.ps1
    signerd_client.py digest-script [--digest ALG] IN.ps1
    signerd_client.py [--socket PATH] cert [--key K] [--pem] [--chain] -o FILE
    signerd_client.py [--socket PATH] keys
    signerd_client.py [--socket PATH] status

The socket is --socket, else $SIGNERD_SOCKET, else /run/signerd/signerd.sock.
"""

import argparse
import array
import base64
import errno
import hashlib
import os
import re
import select
import selectors
import socket
import stat
import struct
import sys
import tempfile

__all__ = [
    "SignerdClient",
    "SignerdError",
    "ProtocolError",
    "CabError",
    "ScriptError",
    "SignatureCheckError",
    "cab_digest",
    "cab_embed",
    "script_parse",
    "script_digest",
    "script_embed",
    "check_signature",
    "write_file_atomic",
    "DIGEST_LENGTHS",
    "ERROR_NAMES",
]

DEFAULT_SOCKET = "/run/signerd/signerd.sock"
PROTOCOL_VERSION = 1
MAX_FRAME = 65536  # the largest `length` (type + body), section 2.1

# Section 3: message types.
HELLO = 0x01
HELLO_OK = 0x02
SIGN_CAB = 0x10
SIGNATURE = 0x11
GET_CERT = 0x12
CERT = 0x13
LIST_KEYS = 0x14
KEYS = 0x15
STATUS = 0x16
STATUS_OK = 0x17
SIGN_SCRIPT = 0x20
ERROR = 0x7F

# Section 3.3: field maxima of SIGN_CAB and GET_CERT, and digest lengths.
MAX_KEY = 127
MAX_ALG = 15
MAX_DIGEST = 64
MAX_PROGRAM = 255
MAX_URL = 1023
DIGEST_LENGTHS = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

# Section 6: error codes. Unknown codes are failures too; see error_name().
ERROR_NAMES = {
    1: "BAD_REQUEST",
    2: "UNSUPPORTED_VERSION",
    3: "UNKNOWN_KEY",
    4: "KEY_RETIRED",
    5: "UNSUPPORTED_DIGEST",
    6: "BAD_DIGEST_LENGTH",
    7: "NOT_AUTHORIZED",
    8: "CERT_NOT_YET_VALID",
    9: "CERT_EXPIRED",
    10: "CERT_EXPIRES_SOON",
    11: "CERT_REVOKED",
    12: "CRL_UNAVAILABLE",
    13: "TIMESTAMP_FAILED",
    14: "AUDIT_UNAVAILABLE",
    15: "TOKEN_UNAVAILABLE",
    16: "RATE_LIMITED",
    17: "BUSY",
    18: "FROZEN",
    19: "INTERNAL",
}


def error_name(code):
    return ERROR_NAMES.get(code, "UNKNOWN_ERROR_%d" % code)


class SignerdError(Exception):
    """An ERROR frame from signerd: code (int), name (str), message (str)."""

    def __init__(self, code, name, message):
        super().__init__(code, name, message)
        self.code = code
        self.name = name
        self.message = message

    def __str__(self):
        return "signerd refused: %s (%d): %s" % (self.name, self.code, self.message)


class ProtocolError(Exception):
    """The server sent something the protocol does not allow; the connection is closed."""


class CabError(Exception):
    """The file is not a CAB this client can sign (section 5's refusals)."""


class ScriptError(Exception):
    """The file is not a PowerShell script this client can sign (section 5.4's refusals)."""


class SignatureCheckError(Exception):
    """The returned PKCS#7 is not what was asked for (section 4's careful-client checks)."""


# ---------------------------------------------------------------------------
# Encoding (section 2)


def _check_text(value, maximum, what):
    """Encode a string field as UTF-8 and check it against its maximum."""
    if not isinstance(value, str):
        raise TypeError("%s must be a str" % what)
    raw = value.encode("utf-8")
    if b"\0" in raw:
        raise ValueError("%s contains a NUL character" % what)
    if len(raw) > maximum:
        raise ValueError("%s is %d bytes in UTF-8, the maximum is %d" % (what, len(raw), maximum))
    return raw


class _Writer:
    def __init__(self):
        self.buf = bytearray()

    def u32(self, n):
        self.buf += struct.pack(">I", n)
        return self

    def blob(self, raw):
        self.buf += struct.pack(">I", len(raw)) + raw
        return self

    def string(self, value, maximum, what):
        return self.blob(_check_text(value, maximum, what))


class _Reader:
    """Bounded reader over one frame body: every getter checks the length first."""

    def __init__(self, body, what):
        self.body = body
        self.pos = 0
        self.what = what

    def _take(self, n, field):
        if n > len(self.body) - self.pos:
            raise ProtocolError(
                "%s: %s needs %d bytes, only %d left" % (self.what, field, n, len(self.body) - self.pos)
            )
        out = self.body[self.pos : self.pos + n]
        self.pos += n
        return out

    def remaining(self):
        return len(self.body) - self.pos

    def u8(self, field):
        return self._take(1, field)[0]

    def u32(self, field):
        return struct.unpack(">I", self._take(4, field))[0]

    def blob(self, field, minimum=0, maximum=MAX_FRAME):
        n = self.u32(field + " length")
        if n < minimum or n > maximum:
            raise ProtocolError("%s: %s is %d bytes, allowed %d..%d" % (self.what, field, n, minimum, maximum))
        return self._take(n, field)

    def string(self, field, maximum, errors="strict"):
        raw = self.blob(field, 0, maximum)
        if b"\0" in raw:
            raise ProtocolError("%s: %s contains a NUL byte" % (self.what, field))
        try:
            return raw.decode("utf-8", errors)
        except UnicodeDecodeError:
            raise ProtocolError("%s: %s is not UTF-8" % (self.what, field)) from None

    def end(self):
        if self.pos != len(self.body):
            raise ProtocolError("%s: %d bytes left over after the last field" % (self.what, self.remaining()))


def _frame(msg_type, body=b""):
    if 1 + len(body) > MAX_FRAME:
        raise ValueError("request of %d bytes exceeds the frame limit" % (1 + len(body)))
    return struct.pack(">IB", 1 + len(body), msg_type) + bytes(body)


def encode_sign_cab(digest, alg="sha256", key="", program=None, url=None, msg_type=SIGN_CAB):
    """The SIGN_CAB frame (section 3.3), length prefix included; with
    msg_type=SIGN_SCRIPT, the SIGN_SCRIPT frame (section 3.13, the same body)."""
    if not isinstance(digest, (bytes, bytearray)):
        raise TypeError("digest must be bytes")
    if len(digest) > MAX_DIGEST:
        raise ValueError("digest is %d bytes, the maximum is %d" % (len(digest), MAX_DIGEST))
    w = _Writer()
    w.string(key or "", MAX_KEY, "key name")
    w.string(alg, MAX_ALG, "digest algorithm")
    w.blob(bytes(digest))
    w.string(program or "", MAX_PROGRAM, "program name")
    w.string(url or "", MAX_URL, "URL")
    return _frame(msg_type, w.buf)


def encode_sign_script(digest, alg="sha256", key="", program=None, url=None):
    """The SIGN_SCRIPT frame (section 3.13), length prefix included."""
    return encode_sign_cab(digest, alg, key, program, url, SIGN_SCRIPT)


def _decode_error(body):
    r = _Reader(body, "ERROR")
    code = r.u32("code")
    # The server cuts messages on a character boundary; be lenient anyway,
    # since this text is only shown to a person.
    message = r.string("message", 511, errors="replace")
    r.end()
    return SignerdError(code, error_name(code), message)


def _decode_signature(body):
    r = _Reader(body, "SIGNATURE")
    der = r.blob("pkcs7", 1, MAX_FRAME - 5)
    r.end()
    return bytes(der)


def _decode_cert(body):
    r = _Reader(body, "CERT")
    count = r.u32("count")
    if count < 1:
        raise ProtocolError("CERT: count is 0, at least the key's certificate is required")
    if count > r.remaining() // 4:
        raise ProtocolError("CERT: count %d cannot fit in a %d-byte body" % (count, len(body)))
    certs = [bytes(r.blob("cert[%d]" % i, 1)) for i in range(count)]
    r.end()
    return certs


_KEY_FIELDS = (
    ("subject", 511),
    ("serial", 127),
    ("sha1", 40),
    ("not_after", 31),
    ("revocation", 31),
    ("crl_next_update", 31),
)


def _decode_keys(body):
    r = _Reader(body, "KEYS")
    count = r.u32("count")
    # An entry is at least 8 empty strings and the u8: 33 bytes.
    if count > r.remaining() // 33:
        raise ProtocolError("KEYS: count %d cannot fit in a %d-byte body" % (count, len(body)))
    keys = []
    for i in range(count):
        entry = {"name": r.string("key[%d].name" % i, 127)}
        default = r.u8("key[%d].default" % i)
        if default not in (0, 1):
            raise ProtocolError("KEYS: key[%d].default is %d, not 0 or 1" % (i, default))
        entry["default"] = default == 1
        entry["state"] = r.string("key[%d].state" % i, 15)
        for field, maximum in _KEY_FIELDS:
            entry[field] = r.string("key[%d].%s" % (i, field), maximum)
        keys.append(entry)
    r.end()
    return keys


def _decode_hello_ok(body, asked):
    r = _Reader(body, "HELLO_OK")
    version = r.u32("version")
    server = r.string("server", 255)
    r.end()
    if version < 1 or version > asked:
        raise ProtocolError("HELLO_OK: server chose version %d, the client asked for at most %d" % (version, asked))
    return version, server


def _decode_status(body):
    r = _Reader(body, "STATUS_OK")
    text = r.string("text", MAX_FRAME - 5)
    r.end()
    return text


# ---------------------------------------------------------------------------
# The connection


class _Pipe:
    """State of one sign_cab_many() or sign_script_many() pipeline."""

    def __init__(self, total, return_errors):
        self.total = total
        self.return_errors = return_errors
        self.sent = 0  # requests queued into `out`
        self.results = []  # one per answer, in order
        self.first_error = None
        self.send_failed = None
        self.out = bytearray()
        self.inbuf = bytearray()

    def may_send(self):
        return self.send_failed is None and (self.return_errors or self.first_error is None)

    def done(self):
        # Every request answered, or sending stopped and the rest drained.
        return len(self.results) == self.sent and (self.sent == self.total or not self.may_send())


class SignerdClient:
    """One connection to signerd. Use as a context manager, or call close().

    The connection is opened on the first request. After a ProtocolError, a
    timeout or a closed connection, the object is unusable (it closes the
    socket): the stream can no longer be trusted to be in step.
    """

    def __init__(self, socket_path=None, timeout=60.0):
        self.socket_path = socket_path or os.environ.get("SIGNERD_SOCKET") or DEFAULT_SOCKET
        self.timeout = timeout
        self._sock = None
        self._used = False
        self._broken = None

    # -- connection management

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, *exc):
        self.close()

    def connect(self):
        if self._broken:
            raise ConnectionError("connection to %s is unusable: %s" % (self.socket_path, self._broken))
        if self._sock is not None:
            if not self._used or not self._closed_by_server():
                return
            # The server closes connections idle for 60 s (section 2.5); with
            # nothing in flight, a fresh connection is equivalent.
            self.close()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(self.timeout)
            s.connect(self.socket_path)
        except OSError as e:
            s.close()
            raise ConnectionError("cannot connect to %s: %s" % (self.socket_path, e.strerror or e)) from None
        self._sock = s
        self._used = False

    def _closed_by_server(self):
        """Between requests nothing may arrive: readable means EOF, or a protocol error."""
        readable, _, _ = select.select([self._sock], [], [], 0)
        if not readable:
            return False
        try:
            peek = self._sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        if peek:
            self._fail(ProtocolError("the server sent data that answers no request"))
        return True

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _fail(self, exc):
        """Close for good and raise exc (framing lost, timeout, EOF)."""
        self._broken = str(exc)
        self.close()
        raise exc

    # -- frames

    def _send(self, data):
        self.connect()
        self._used = True
        try:
            self._sock.sendall(data)
        except socket.timeout:
            self._fail(TimeoutError("timed out sending to %s" % self.socket_path))
        except OSError as e:
            self._salvage_error()
            self._fail(ConnectionError("sending to %s: %s" % (self.socket_path, e.strerror or e)))

    def _salvage_error(self):
        """After a failed send: a server that refused the connection (section 1)
        sent an ERROR before closing; raise it rather than a bare broken pipe."""
        try:
            self._sock.settimeout(min(self.timeout or 1.0, 1.0))
            msg_type, body = self._recv_frame()
        except (OSError, ProtocolError, ConnectionError, TimeoutError):
            return
        if msg_type == ERROR:
            try:
                err = _decode_error(body)
            except ProtocolError:
                return
            self._broken = str(err)
            self.close()
            raise err

    def _recv_exact(self, n, started):
        chunks = []
        while n > 0:
            try:
                chunk = self._sock.recv(min(n, 65536))
            except socket.timeout:
                self._fail(TimeoutError("no answer from %s within %ss" % (self.socket_path, self.timeout)))
            except OSError as e:
                self._fail(ConnectionError("reading from %s: %s" % (self.socket_path, e.strerror or e)))
            if not chunk:
                if started or chunks:
                    self._fail(ProtocolError("the server closed the connection in the middle of a frame"))
                self._fail(ConnectionError("the server closed the connection"))
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _recv_frame(self):
        head = self._recv_exact(4, False)
        length = struct.unpack(">I", head)[0]
        # Section 2.1: check the length before reading anything else.
        if length < 1 or length > MAX_FRAME:
            self._fail(ProtocolError("frame length %d from the server is outside 1..%d" % (length, MAX_FRAME)))
        rest = self._recv_exact(length, True)
        return rest[0], rest[1:]

    def _reply(self, msg_type, body, want):
        """Turn one received frame into its body, or raise SignerdError."""
        if msg_type == ERROR:
            try:
                raise _decode_error(body)
            except ProtocolError as e:
                self._fail(e)
        if msg_type != want:
            self._fail(ProtocolError("expected message type 0x%02x, got 0x%02x" % (want, msg_type)))
        return body

    def _call(self, frame, want, decode):
        self._send(frame)
        msg_type, body = self._recv_frame()
        body = self._reply(msg_type, body, want)
        try:
            return decode(body)
        except ProtocolError as e:
            self._fail(e)

    # -- messages

    def hello(self, version=PROTOCOL_VERSION):
        """HELLO: returns (version, server string)."""
        if not 1 <= version <= 0xFFFFFFFF:
            raise ValueError("version must be 1..2^32-1")
        return self._call(_frame(HELLO, struct.pack(">I", version)), HELLO_OK, lambda b: _decode_hello_ok(b, version))

    def sign_cab(self, digest, alg="sha256", key="", program=None, url=None):
        """SIGN_CAB: returns the DER ContentInfo (SIGNATURE.pkcs7)."""
        return self._call(encode_sign_cab(digest, alg, key, program, url), SIGNATURE, _decode_signature)

    def sign_script(self, digest, alg="sha256", key="", program=None, url=None):
        """SIGN_SCRIPT: a PowerShell script digest (section 5.4); returns the DER
        ContentInfo, a script signature (SPC_SIPINFO_OBJID)."""
        return self._call(encode_sign_script(digest, alg, key, program, url), SIGNATURE, _decode_signature)

    def sign_cab_many(self, digests, alg="sha256", key="", program=None, url=None, window=64, return_errors=False):
        """Pipelined SIGN_CAB: one request per digest, the answers in the same order.

        At most `window` requests are in flight (the server works on at most
        64 per connection); reading and writing are interleaved, so neither
        side can stall the other. On an ERROR answer this raises it (with
        .index set to the digest's position) after draining the answers still
        in flight, unless return_errors is true: then the list holds the
        SignerdError in that position and goes on.
        """
        return self._sign_many(SIGN_CAB, digests, alg, key, program, url, window, return_errors)

    def sign_script_many(self, digests, alg="sha256", key="", program=None, url=None, window=64, return_errors=False):
        """Pipelined SIGN_SCRIPT (PowerShell script digests, section 5.4): as
        sign_cab_many, each answer a script signature (SPC_SIPINFO_OBJID)."""
        return self._sign_many(SIGN_SCRIPT, digests, alg, key, program, url, window, return_errors)

    def _sign_many(self, msg_type, digests, alg, key, program, url, window, return_errors):
        if window < 1:
            raise ValueError("window must be at least 1")
        frames = [encode_sign_cab(d, alg, key, program, url, msg_type) for d in digests]
        self.connect()
        self._used = True
        sock = self._sock
        sel = selectors.DefaultSelector()
        p = _Pipe(len(frames), return_errors)
        try:
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
            while not p.done():
                # Queue requests while the window allows and nothing has failed.
                while p.sent < len(frames) and p.sent - len(p.results) < window and p.may_send():
                    p.out += frames[p.sent]
                    p.sent += 1
                sel.modify(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if p.out else 0))
                events = sel.select(self.timeout)
                if not events:
                    self._fail(TimeoutError("no progress with %s within %ss" % (self.socket_path, self.timeout)))
                for _, mask in events:
                    if mask & selectors.EVENT_WRITE and p.out:
                        self._pipe_write(sock, p)
                    if mask & selectors.EVENT_READ:
                        self._pipe_read(sock, p)
            if p.inbuf:
                self._fail(ProtocolError("%d unexpected bytes after the last answer" % len(p.inbuf)))
        finally:
            sel.close()
            if self._sock is not None:
                sock.setblocking(True)
                sock.settimeout(self.timeout)
        if p.first_error is not None and (not return_errors or len(p.results) < p.total):
            raise p.first_error
        if len(p.results) < p.total:
            self._fail(ConnectionError("sending to %s failed: %s" % (self.socket_path, p.send_failed)))
        return p.results

    @staticmethod
    def _pipe_write(sock, p):
        try:
            del p.out[: sock.send(p.out)]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            # The server closed; what it sent before (an ERROR, say) is still to be read.
            p.send_failed = e
            p.out.clear()

    def _pipe_read(self, sock, p):
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(ConnectionError("reading from %s: %s" % (self.socket_path, e.strerror or e)))
        if not chunk:
            if p.first_error is not None:  # e.g. NOT_AUTHORIZED or BUSY, then close (section 1)
                self._broken = str(p.first_error)
                self.close()
                raise p.first_error
            why = " (sending failed: %s)" % p.send_failed if p.send_failed else ""
            self._fail(
                ConnectionError(
                    "the server closed the connection after %d of %d answers%s" % (len(p.results), p.sent, why)
                )
            )
        p.inbuf += chunk
        while len(p.inbuf) >= 4:
            length = struct.unpack(">I", p.inbuf[:4])[0]
            if length < 1 or length > MAX_FRAME:
                self._fail(ProtocolError("frame length %d from the server is outside 1..%d" % (length, MAX_FRAME)))
            if len(p.inbuf) < 4 + length:
                return
            msg_type, body = p.inbuf[4], bytes(p.inbuf[5 : 4 + length])
            del p.inbuf[: 4 + length]
            if len(p.results) >= p.sent:
                self._fail(ProtocolError("the server sent an answer to no request"))
            try:
                p.results.append(_decode_signature(self._reply(msg_type, body, SIGNATURE)))
            except SignerdError as e:
                e.index = len(p.results)
                p.first_error = p.first_error or e
                p.results.append(e)
            except ProtocolError as e:
                self._fail(e)

    def get_cert(self, key=""):
        """GET_CERT: [leaf DER, chain DER...]."""
        body = _Writer().string(key or "", MAX_KEY, "key name").buf
        return self._call(_frame(GET_CERT, body), CERT, _decode_cert)

    def list_keys(self):
        """LIST_KEYS: a dict per key (name, default, state, subject, serial, sha1,
        not_after, revocation, crl_next_update)."""
        return self._call(_frame(LIST_KEYS), KEYS, _decode_keys)

    def status(self):
        """STATUS: the server's status text."""
        return self._call(_frame(STATUS), STATUS_OK, _decode_status)


# ---------------------------------------------------------------------------
# CAB (sections 4 and 5)

_FLAG_PREV = 0x0001
_FLAG_NEXT = 0x0002
_FLAG_RESERVE = 0x0004
_HEADER = 36  # CFHEADER without the optional reserve fields
_HEADER_SIGNED = 60  # with cbCFHeader, cbCFFolder, cbCFData and the 20-byte reserve
_RESERVE_INSERT = 24
_SIG_TAG = b"\x00\x00\x10\x00"  # the reserve's first u32, 0x00100000 little-endian
_CFFOLDER = 8  # coffCabStart u32, cCFData u16, typeCompress u16
_CFDATA = 8  # csum u32, cbData u16, cbUncomp u16, then cbData bytes
_CFFILE = 16  # cbFile, uoffFolderStart, iFolder u16, date, time, attribs, then the name
_MAX_NAME = 257  # a CFFILE name with its NUL
MAX_CAB_SIZE = 0x7FFFFFFF  # signed CAB, signature included (section 5)


def _u16(data, off):
    return struct.unpack_from("<H", data, off)[0]


def _u32(data, off):
    return struct.unpack_from("<I", data, off)[0]


def _der_seq_len(data, off, n):
    """Total length of the DER SEQUENCE at data[off:off+n] (definite, minimal
    length), or None."""
    if n < 2 or data[off] != 0x30:
        return None
    first = data[off + 1]
    if first < 0x80:
        hdr, length = 2, first
    else:
        k = first & 0x7F
        if k == 0 or k > 4 or n - 2 < k or data[off + 2] == 0:
            return None
        length = int.from_bytes(data[off + 2 : off + 2 + k], "big")
        if length < 0x80:
            return None
        hdr = 2 + k
    if length > n - hdr:
        return None
    return hdr + length


def _cab_check(data, name):
    """Section 5's structural checks. Returns (has_reserve, cbCabinet, cFolders,
    header end, end of the CFFOLDER table), or raises CabError."""
    n = len(data)
    if n < 4 or data[0:4] != b"MSCF":
        raise CabError("%s: not a CAB file (no MSCF signature)" % name)
    if n > MAX_CAB_SIZE:
        raise CabError("%s: %d bytes; a CAB may be at most %d bytes" % (name, n, MAX_CAB_SIZE))
    if n < _HEADER:
        raise CabError("%s: %d bytes is too short for a CAB header (36 bytes)" % (name, n))
    if _u32(data, 4) != 0:
        raise CabError("%s: header field reserved1 is 0x%08x, must be 0" % (name, _u32(data, 4)))
    if data[25] != 1 or data[24] != 3:
        raise CabError("%s: CAB format version %d.%d, only 1.3 exists" % (name, data[25], data[24]))
    flags = _u16(data, 30)
    if flags & (_FLAG_PREV | _FLAG_NEXT):
        raise CabError("%s: multi-volume CABs (flags 0x%04x) cannot be signed" % (name, flags))
    if flags & ~(_FLAG_PREV | _FLAG_NEXT | _FLAG_RESERVE):
        raise CabError("%s: unknown CAB header flags 0x%04x" % (name, flags))
    cb = _u32(data, 8)
    folders = _u16(data, 26)
    files = _u16(data, 28)
    has_reserve = bool(flags & _FLAG_RESERVE)
    hdr_end = _HEADER_SIGNED if has_reserve else _HEADER
    sig_off = sig_len = 0
    if has_reserve:
        if n < _HEADER + 4:
            raise CabError("%s: flag 0x0004 is set but the reserve sizes are missing" % name)
        if _u16(data, 36) != 20:
            raise CabError(
                "%s: the header reserve is %d bytes; only a 20-byte signature reserve is supported"
                % (name, _u16(data, 36))
            )
        if data[38] or data[39]:
            raise CabError(
                "%s: folder and data reserves must be 0 bytes (cbCFFolder %d, cbCFData %d)"
                % (name, data[38], data[39])
            )
        if n < _HEADER_SIGNED:
            raise CabError("%s: the 20-byte signature reserve is truncated" % name)
        if data[40:44] != _SIG_TAG:
            raise CabError("%s: the reserve does not start with 00 00 10 00: not a signature reserve" % name)
        sig_off, sig_len = _u32(data, 44), _u32(data, 48)
    if cb > n:
        raise CabError("%s: cbCabinet is %d but the file has only %d bytes (truncated?)" % (name, cb, n))
    if cb < hdr_end:
        raise CabError("%s: cbCabinet %d is smaller than the %d-byte header" % (name, cb, hdr_end))
    # After cbCabinet: nothing, or exactly the signature the reserve describes.
    if sig_len == 0:
        if sig_off not in (0, cb):
            raise CabError("%s: the reserve has signature offset %d but length 0" % (name, sig_off))
        if n != cb:
            raise CabError("%s: %d bytes after cbCabinet that are not a signature" % (name, n - cb))
    else:
        if sig_off != cb:
            raise CabError("%s: the reserve puts the signature at %d, not at cbCabinet (%d)" % (name, sig_off, cb))
        if sig_off + sig_len != n:
            raise CabError(
                "%s: the reserve says the signature is %d bytes, but %d bytes follow cbCabinet"
                % (name, sig_len, n - cb)
            )
        der = _der_seq_len(data, cb, sig_len)
        if der is None:
            raise CabError("%s: the %d bytes after cbCabinet are not a DER SEQUENCE" % (name, sig_len))
        if any(data[cb + der : n]):
            raise CabError("%s: non-zero bytes in the signature padding" % name)
    # CFFOLDER table and the CFDATA blocks of each folder.
    if folders * _CFFOLDER > cb - hdr_end:
        raise CabError("%s: %d CFFOLDER entries run past cbCabinet" % (name, folders))
    folders_end = hdr_end + folders * _CFFOLDER
    blocks = sum(_u16(data, hdr_end + i * _CFFOLDER + 4) for i in range(folders))
    if blocks * _CFDATA > cb - folders_end:
        raise CabError("%s: the folders declare %d CFDATA blocks, more than fit in cbCabinet" % (name, blocks))
    for i in range(folders):
        ent = hdr_end + i * _CFFOLDER
        off, ndata, ctype = _u32(data, ent), _u16(data, ent + 4), _u16(data, ent + 6)
        if ctype & 0x000F > 3:
            raise CabError("%s: CFFOLDER %d has unknown compression type 0x%04x" % (name, i, ctype))
        if off < folders_end or off > cb:
            raise CabError(
                "%s: CFFOLDER %d's coffCabStart %d is outside %d..%d" % (name, i, off, folders_end, cb)
            )
        for k in range(ndata):
            if cb - off < _CFDATA or cb - off - _CFDATA < _u16(data, off + 4):
                raise CabError("%s: CFFOLDER %d: CFDATA block %d runs past cbCabinet" % (name, i, k))
            off += _CFDATA + _u16(data, off + 4)
    # CFFILE entries.
    off = _u32(data, 16)
    if off != folders_end:
        raise CabError("%s: coffFiles %d does not follow the CFFOLDER table (%d)" % (name, off, folders_end))
    for i in range(files):
        if cb - off < _CFFILE:
            raise CabError("%s: CFFILE %d runs past cbCabinet" % (name, i))
        folder = _u16(data, off + 8)
        if folder >= folders:
            raise CabError("%s: CFFILE %d refers to folder %d of %d" % (name, i, folder, folders))
        off += _CFFILE
        nul = data.find(b"\0", off, min(cb, off + _MAX_NAME))
        if nul < 0:
            raise CabError("%s: CFFILE %d's name is not NUL-terminated within %d bytes" % (name, i, _MAX_NAME))
        off = nul + 1
    return has_reserve, cb, folders, hdr_end, folders_end


def _cab_prepare(data, name="CAB"):
    """The CAB as it will be once signed, up to cbCabinet (a bytearray with the
    20-byte reserve at offset 40), or CabError. Any existing signature is dropped."""
    has_reserve, cb, folders, _, folders_end = _cab_check(data, name)
    if has_reserve:
        return bytearray(data[:cb])
    # Section 4 step 1: insert the reserve at offset 36, shift every offset by 24.
    out = bytearray(data[:_HEADER])
    out += struct.pack("<HBB", 20, 0, 0) + _SIG_TAG + struct.pack("<I", cb + _RESERVE_INSERT) + bytes(12)
    out += data[_HEADER:cb]
    struct.pack_into("<I", out, 8, cb + _RESERVE_INSERT)
    struct.pack_into("<I", out, 16, folders_end + _RESERVE_INSERT)
    struct.pack_into("<H", out, 30, _u16(data, 30) | _FLAG_RESERVE)
    for i in range(folders):
        off = _HEADER_SIGNED + _CFFOLDER * i
        struct.pack_into("<I", out, off, _u32(out, off) + _RESERVE_INSERT)
    return out


def _hash_prepared(body, alg):
    if alg not in DIGEST_LENGTHS:
        raise ValueError("unknown digest algorithm %r (sha1, sha256, sha384, sha512)" % alg)
    h = hashlib.new(alg)
    mv = memoryview(body)
    h.update(mv[0:4])
    h.update(mv[8:34])
    h.update(mv[56:60])
    h.update(mv[60:])
    return h.digest()


def cab_digest(data, alg="sha256", name="CAB"):
    """Authenticode digest of a CAB (bytes) as it will be once signed (section 5)."""
    return _hash_prepared(_cab_prepare(data, name), alg)


def cab_embed(data, pkcs7, name="CAB"):
    """The signed CAB: data (unsigned or signed) with pkcs7 as its only signature."""
    pkcs7 = bytes(pkcs7)
    if _der_seq_len(pkcs7, 0, len(pkcs7)) != len(pkcs7):
        raise SignatureCheckError("the signature to embed is not a single DER SEQUENCE")
    body = _cab_prepare(data, name)
    cb = len(body)
    padded = (len(pkcs7) + 7) & ~7
    if cb + padded > MAX_CAB_SIZE:
        raise CabError("%s: %d bytes with its signature; the limit is %d" % (name, cb + padded, MAX_CAB_SIZE))
    struct.pack_into("<4sII", body, 40, _SIG_TAG, cb, padded)
    body += pkcs7
    body += bytes(padded - len(pkcs7))
    return bytes(body)


def write_file_atomic(path, data, mode=None):
    """Write data to path via a temporary file in the same directory, fsync, rename."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            os.unlink(tmp)


# ---------------------------------------------------------------------------
# PowerShell scripts (section 5.4)

MAX_SCRIPT_SIZE = 64 << 20
_SIG_HEADER = "# SIG # Begin signature block"
_SIG_FOOTER = "# SIG # End signature block"
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_SURROGATE_ERROR = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")


class ScriptLayout:
    """What script_parse() found: encoding ("UTF-8", "UTF-8 with BOM",
    "UTF-16LE"), text_len (bytes signed), block_line (1-based line of an
    existing block, 0 when none), signature (its DER, or None) and
    bomless_non_ascii (UTF-8 without a BOM holding non-ASCII text: Windows
    PowerShell 5.1 reads such a file as ANSI)."""

    def __init__(self, encoding, unit, text_len, block_line, signature, bomless_non_ascii):
        self.encoding = encoding
        self.unit = unit
        self.text_len = text_len
        self.block_line = block_line
        self.signature = signature
        self.bomless_non_ascii = bomless_non_ascii


def _script_units(data, name):
    """(encoding, unit, bom units, the file as a str of code units)."""
    n = len(data)
    if n == 0:
        raise ScriptError("%s: the script is empty" % name)
    if n > MAX_SCRIPT_SIZE:
        raise ScriptError("%s: the script is %d bytes, at most %d" % (name, n, MAX_SCRIPT_SIZE))
    for bom, what in ((b"\x00\x00\xfe\xff", "UTF-32BE (byte-order mark 00 00 FE FF)"),
                      (b"\xff\xfe\x00\x00", "UTF-32LE (byte-order mark FF FE 00 00)"),
                      (b"\xfe\xff", "UTF-16BE (byte-order mark FE FF)")):
        if data.startswith(bom):
            raise ScriptError("%s: the script is %s; save it as UTF-8 or UTF-16LE" % (name, what))
    if data.startswith(b"\xff\xfe"):
        if n % 2:
            raise ScriptError(
                "%s: the script is UTF-16LE (byte-order mark FF FE) but %d bytes long: "
                "an odd length cannot be UTF-16" % (name, n)
            )
        # One str character per 16-bit unit: a decoder would join surrogate pairs.
        units = array.array("H", data)
        if sys.byteorder == "big":
            units.byteswap()
        return "UTF-16LE", 2, 1, "".join(map(chr, units))
    if data.startswith(b"\xef\xbb\xbf"):
        return "UTF-8 with BOM", 1, 3, data.decode("latin-1")
    return "UTF-8", 1, 0, data.decode("latin-1")


def _script_check_text(data, u, unit, bom, end, name):
    """The signed text u[:end] is valid in its encoding and holds no NUL."""
    line = lambda i: u.count("\n", 0, i) + 1
    if unit == 1:
        raw = data[:end]
        nul = raw.find(b"\0")
        try:
            raw.decode("utf-8")
            bad = -1
        except UnicodeDecodeError as e:
            bad = e.start
        if nul >= 0 and (bad < 0 or nul <= bad):
            raise ScriptError(
                "%s: NUL byte at offset %d (line %d): a script is text (UTF-16 without a "
                "byte-order mark is not supported)" % (name, nul, line(nul))
            )
        if bad >= 0:
            raise ScriptError(
                "%s: invalid UTF-8 at offset %d (line %d); save the script as UTF-8 or UTF-16LE"
                % (name, bad, line(bad))
            )
        return
    text = u[:end]
    nul = text.find("\0", bom)
    m = _SURROGATE_ERROR.search(text, bom)
    if nul >= 0 and (m is None or nul < m.start()):
        raise ScriptError("%s: NUL character at offset %d (line %d) of the UTF-16LE script" % (name, 2 * nul, line(nul)))
    if m is not None:
        i = m.start()
        why = "a high surrogate without a low one" if text[i] < "\udc00" else "a low surrogate without a high one"
        raise ScriptError("%s: invalid UTF-16LE at offset %d (line %d): %s" % (name, 2 * i, line(i), why))


def _script_block(u, hdr, first_line, name):
    """The block from the header at hdr to the end: its DER, or ScriptError."""

    def get_line(ls):
        lf = u.find("\n", ls)
        end = lf if lf >= 0 else len(u)
        crlf = lf >= 0 and end > ls and u[end - 1] == "\r"
        return u[ls : end - crlf], (lf + 1 if lf >= 0 else len(u))

    bad = "%s: malformed signature block" % name
    text, nxt = get_line(hdr)
    if text != _SIG_HEADER:
        raise ScriptError('%s: line %d starts with "%s" but holds more' % (bad, first_line, _SIG_HEADER))
    b64 = []
    line = first_line
    while True:
        line += 1
        if nxt >= len(u):
            raise ScriptError('%s: no "%s" line after the "%s" on line %d' % (bad, _SIG_FOOTER, _SIG_HEADER, first_line))
        text, nxt = get_line(nxt)
        if text == _SIG_FOOTER:
            break
        if len(text) < 3 or not text.startswith("# "):
            raise ScriptError('%s: line %d is not "# " followed by base64' % (bad, line))
        for c in text[2:]:
            if c not in _B64_CHARS:
                raise ScriptError("%s: line %d holds a character that is not base64 (0x%02x)" % (bad, line, ord(c)))
        b64.append(text[2:])
    if u[nxt:].strip(" \t\r\n"):
        raise ScriptError('%s: text after "%s" on line %d (the block must end the file)' % (bad, _SIG_FOOTER, line))
    b64 = "".join(b64)
    at = "%s: malformed signature block at line %d" % (name, first_line)
    if not b64 or len(b64) % 4:
        raise ScriptError("%s: the base64 is not a whole number of 4-character groups" % at)
    pad = b64.find("=")
    if pad >= 0 and (pad < len(b64) - 2 or b64[pad:] not in ("=", "==")):
        raise ScriptError("%s: base64 padding '=' in the middle of the data" % at)
    der = base64.b64decode(b64)
    if _der_seq_len(der, 0, len(der)) != len(der):
        raise ScriptError("%s: the %d decoded bytes are not one DER SEQUENCE" % (at, len(der)))
    return der


def script_parse(data, name="script"):
    """Check a PowerShell script (bytes) as section 5.4 says: a ScriptLayout, or ScriptError."""
    data = bytes(data)
    enc, unit, bom, u = _script_units(data, name)
    n = len(u)
    hdr = -1
    if u.startswith(_SIG_HEADER, bom):
        hdr = bom
    else:
        ls = 0
        while ls < n:
            if u.startswith(_SIG_HEADER, ls):
                hdr = ls
                break
            lf = u.find("\n", ls)
            if lf < 0:
                break
            ls = lf + 1
    text_end, block_line = n, 0
    if hdr >= 0:
        block_line = u.count("\n", 0, hdr) + 1
        if hdr == bom:
            raise ScriptError("%s: the file starts with a signature block: there is no script text to sign" % name)
        lf = u.find("\n", hdr)
        crlf = lf > hdr and u[lf - 1] == "\r"
        text_end = hdr - 1
        if crlf:
            if text_end == 0 or u[text_end - 1] != "\r":
                raise ScriptError(
                    "%s: malformed signature block: line %d ends in CR LF but the line before it does not"
                    % (name, block_line)
                )
            text_end -= 1
        elif lf >= 0 and text_end > 0 and u[text_end - 1] == "\r":
            raise ScriptError(
                "%s: malformed signature block: line %d ends in LF but the line before it in CR LF" % (name, block_line)
            )
        if text_end <= bom:
            raise ScriptError("%s: the file holds only a signature block: there is no script text to sign" % name)
    if text_end <= bom:
        raise ScriptError("%s: the script holds only a byte-order mark: there is no text to sign" % name)
    _script_check_text(data, u, unit, bom, text_end, name)
    signature = _script_block(u, hdr, block_line, name) if hdr >= 0 else None
    non_ascii = enc == "UTF-8" and any(b >= 0x80 for b in data[:text_end])
    return ScriptLayout(enc, unit, text_end * unit, block_line, signature, non_ascii)


def script_digest(data, alg="sha256", name="script"):
    """Authenticode digest of a PowerShell script: its text as UTF-16LE, BOM
    included, without any signature block (section 5.4)."""
    if alg not in DIGEST_LENGTHS:
        raise ValueError("unknown digest algorithm %r (sha1, sha256, sha384, sha512)" % alg)
    lay = script_parse(data, name)
    text = bytes(data[: lay.text_len])
    if lay.unit == 1:
        text = text.decode("utf-8").encode("utf-16-le")
    return hashlib.new(alg, text).digest()


def script_embed(data, pkcs7, name="script"):
    """The signed script: its text, then a signature block holding pkcs7, in the
    script's own encoding; an existing block is replaced."""
    pkcs7 = bytes(pkcs7)
    if _der_seq_len(pkcs7, 0, len(pkcs7)) != len(pkcs7):
        raise SignatureCheckError("the signature to embed is not a single DER SEQUENCE")
    lay = script_parse(data, name)
    b64 = base64.b64encode(pkcs7).decode("ascii")
    block = "\r\n" + _SIG_HEADER
    block += "".join("\r\n# " + b64[i : i + 64] for i in range(0, len(b64), 64))
    block += "\r\n" + _SIG_FOOTER + "\r\n"
    return bytes(data[: lay.text_len]) + block.encode("utf-16-le" if lay.unit == 2 else "ascii")


def script_name_ok(path):
    """Whether path names a PowerShell script (.ps1, .psm1, .psd1, any case)."""
    base = os.path.basename(path).lower()
    return any(base.endswith(ext) and len(base) > len(ext) for ext in (".ps1", ".psm1", ".psd1"))


# ---------------------------------------------------------------------------
# Checking the returned PKCS#7 (section 4): a minimal DER walker


def _oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(enc))
    return bytes(out)


_OID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
_OID_SPC_INDIRECT = _oid("1.3.6.1.4.1.311.2.1.4")
_OID_SPC_CAB_DATA = _oid("1.3.6.1.4.1.311.2.1.25")
_OID_SPC_SIPINFO = _oid("1.3.6.1.4.1.311.2.1.30")
# The PowerShell SIP's SpcSipInfo value (section 4), a whole TLV.
_SIPINFO_PS = bytes.fromhex(
    "3026020301000004101fcc3b60594b084eb724d2c6297ef351020100020100020100020100020100"
)
_OID_DIGEST = {
    "sha1": _oid("1.3.14.3.2.26"),
    "sha256": _oid("2.16.840.1.101.3.4.2.1"),
    "sha384": _oid("2.16.840.1.101.3.4.2.2"),
    "sha512": _oid("2.16.840.1.101.3.4.2.3"),
}


def _der(data, pos, end, want, what):
    """One TLV at pos (which must be before end): returns (content_start, content_end)."""
    if pos + 2 > end:
        raise SignatureCheckError("PKCS#7: %s is missing" % what)
    tag = data[pos]
    if tag != want:
        raise SignatureCheckError("PKCS#7: %s has tag 0x%02x, expected 0x%02x" % (what, tag, want))
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise SignatureCheckError("PKCS#7: %s has a bad length" % what)
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if length > end - pos:
        raise SignatureCheckError("PKCS#7: %s runs past its container" % what)
    return pos, pos + length


def _der_expect(data, pos, end, tag, what, want, why):
    """The element at pos must hold exactly `want`, else "PKCS#7: " + why. Returns its end."""
    s, e = _der(data, pos, end, tag, what)
    if data[s:e] != want:
        raise SignatureCheckError("PKCS#7: " + why)
    return e


def _issuer_serial_of_cert(cert):
    """(issuer DER, serial DER) of an X.509 certificate."""
    end = len(cert)
    s, e = _der(cert, 0, end, 0x30, "certificate")
    s, e = _der(cert, s, e, 0x30, "tbsCertificate")
    pos = s
    if pos < e and cert[pos] == 0xA0:  # [0] version
        pos = _der(cert, pos, e, 0xA0, "version")[1]
    ss, se = _der(cert, pos, e, 0x02, "serialNumber")
    serial = cert[pos:se]
    pos = _der(cert, se, e, 0x30, "signature algorithm")[1]
    _, ie = _der(cert, pos, e, 0x30, "issuer")
    return cert[pos:ie], serial


def check_signature(pkcs7, digest, alg, leaf_cert=None, subject="cab"):
    """Section 4's careful-client checks: a SignedData over SPC_INDIRECT_DATA with
    SPC_CAB_DATA (subject "cab") or SPC_SIPINFO with the PowerShell SIP (subject
    "script"), whose DigestInfo carries exactly `alg` and `digest`, with one
    SignerInfo that names leaf_cert (when given). Raises SignatureCheckError."""
    if subject not in ("cab", "script"):
        raise ValueError("subject must be 'cab' or 'script'")
    d = pkcs7
    s, e = _der(d, 0, len(d), 0x30, "ContentInfo")
    if e != len(d):
        raise SignatureCheckError("PKCS#7: %d bytes after the ContentInfo" % (len(d) - e))
    oe = _der_expect(d, s, e, 0x06, "contentType", _OID_SIGNED_DATA, "the ContentInfo is not signedData")
    s, e = _der(d, oe, e, 0xA0, "[0] content")
    s, e = _der(d, s, e, 0x30, "SignedData")
    ve = _der_expect(d, s, e, 0x02, "SignedData.version", b"\x01", "SignedData version is not 1")
    pos = _der(d, ve, e, 0x31, "digestAlgorithms")[1]
    cs, ce = _der(d, pos, e, 0x30, "encapContentInfo")
    after_encap = ce
    te = _der_expect(
        d, cs, ce, 0x06, "eContentType", _OID_SPC_INDIRECT, "the content type is not SPC_INDIRECT_DATA"
    )
    s2, e2 = _der(d, te, ce, 0xA0, "[0] eContent")
    s2, e2 = _der(d, s2, e2, 0x30, "SpcIndirectDataContent")
    ds, de = _der(d, s2, e2, 0x30, "SpcIndirectDataContent.data")
    ts, te = _der(d, ds, de, 0x06, "data.type")
    kinds = {_OID_SPC_CAB_DATA: "cab", _OID_SPC_SIPINFO: "script"}
    got = kinds.get(bytes(d[ts:te]))
    if got != subject:
        if got is not None:
            raise SignatureCheckError("PKCS#7: this is a %s signature, not a %s signature" % (got, subject))
        raise SignatureCheckError(
            "PKCS#7: the indirect data is not %s" % ("SPC_CAB_DATA" if subject == "cab" else "SPC_SIPINFO")
        )
    if subject == "script" and d[te:de] != _SIPINFO_PS:
        raise SignatureCheckError("PKCS#7: the SpcSipInfo is not the PowerShell SIP's")
    ms, me = _der(d, de, e2, 0x30, "messageDigest (DigestInfo)")
    as_, ae = _der(d, ms, me, 0x30, "DigestInfo.digestAlgorithm")
    os_, oe = _der(d, as_, ae, 0x06, "digestAlgorithm OID")
    if alg not in _OID_DIGEST or d[os_:oe] != _OID_DIGEST[alg]:
        raise SignatureCheckError("PKCS#7: the DigestInfo's algorithm is not %s" % alg)
    hs, he = _der(d, ae, me, 0x04, "DigestInfo.digest")
    if d[hs:he] != bytes(digest):
        raise SignatureCheckError("PKCS#7: the signed digest is not the one that was sent")
    # certificates [0], crls [1] (optional), then signerInfos SET.
    pos = after_encap
    if pos < e and d[pos] == 0xA0:
        pos = _der(d, pos, e, 0xA0, "certificates")[1]
    if pos < e and d[pos] == 0xA1:
        pos = _der(d, pos, e, 0xA1, "crls")[1]
    ss, se = _der(d, pos, e, 0x31, "signerInfos")
    si_s, si_e = _der(d, ss, se, 0x30, "SignerInfo")
    if si_e != se:
        raise SignatureCheckError("PKCS#7: more than one SignerInfo")
    if leaf_cert is not None:
        ve = _der_expect(
            d, si_s, si_e, 0x02, "SignerInfo.version", b"\x01", "SignerInfo version is not 1 (issuerAndSerialNumber)"
        )
        ias, iae = _der(d, ve, si_e, 0x30, "issuerAndSerialNumber")
        _, ie = _der(d, ias, iae, 0x30, "sid.issuer")
        issuer, serial = d[ias:ie], d[ie:iae]
        try:
            want_issuer, want_serial = _issuer_serial_of_cert(leaf_cert)
        except SignatureCheckError as ex:
            raise SignatureCheckError("the key's certificate: %s" % ex) from None
        if issuer != want_issuer or serial != want_serial:
            raise SignatureCheckError("PKCS#7: the signer is not the key's certificate")


# ---------------------------------------------------------------------------
# Command line

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
_MAX_INPUT = MAX_CAB_SIZE


def _read_input(path):
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise CabError("%s: not a regular file" % path)
        if st.st_size > _MAX_INPUT:
            raise CabError("%s: %d bytes is larger than any CAB" % (path, st.st_size))
        data = f.read(_MAX_INPUT + 1)
    if len(data) > _MAX_INPUT:
        raise CabError("%s: larger than any CAB" % path)
    return data


def _default_mode():
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _cmd_sign_cab(args, client):
    data = _read_input(args.input)
    digest = cab_digest(data, args.digest, args.input)
    certs = client.get_cert(args.key)
    pkcs7 = client.sign_cab(digest, args.digest, args.key, args.program, args.url)
    check_signature(pkcs7, digest, args.digest, certs[0])
    write_file_atomic(args.output, cab_embed(data, pkcs7, args.input), _default_mode())
    return EXIT_OK


def _warn_script(path, lay):
    if lay.bomless_non_ascii:
        sys.stderr.write(
            "signerd_client.py: warning: %s is UTF-8 without a byte-order mark and holds non-ASCII "
            "text: Windows PowerShell 5.1 reads such a file in the ANSI code page, so the signature "
            "may not verify there; save it as UTF-8 with BOM or UTF-16LE\n" % path
        )


def _read_script(path):
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ScriptError("%s: not a regular file" % path)
        data = f.read(MAX_SCRIPT_SIZE + 1)
    lay = script_parse(data, path)
    _warn_script(path, lay)
    return data


def _cmd_sign_script(args, client):
    if not script_name_ok(args.input):
        sys.stderr.write(
            "signerd_client.py: usage error: %s is not a PowerShell script name (.ps1, .psm1 or .psd1)\n"
            % args.input
        )
        return EXIT_USAGE
    data = _read_script(args.input)
    digest = script_digest(data, args.digest, args.input)
    certs = client.get_cert(args.key)
    pkcs7 = client.sign_script(digest, args.digest, args.key, args.program, args.url)
    check_signature(pkcs7, digest, args.digest, certs[0], subject="script")
    signed = script_embed(data, pkcs7, args.input)
    if script_digest(signed, args.digest, args.output) != digest:
        raise SignatureCheckError("the signed script does not hash to the signed digest")
    write_file_atomic(args.output, signed, _default_mode())
    return EXIT_OK


def _cmd_digest_script(args, client):
    print(script_digest(_read_script(args.input), args.digest, args.input).hex())
    return EXIT_OK


def _cmd_digest_cab(args, client):
    print(cab_digest(_read_input(args.input), args.digest, args.input).hex())
    return EXIT_OK


def _cmd_cert(args, client):
    certs = client.get_cert(args.key)
    if args.chain and not args.pem:
        raise ValueError("--chain needs --pem (DER holds one certificate)")
    if args.pem:
        out = b""
        for der in certs if args.chain else certs[:1]:
            b64 = base64.encodebytes(der).replace(b"\n", b"")
            lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
            out += b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"
    else:
        out = certs[0]
    write_file_atomic(args.output, out, _default_mode())
    return EXIT_OK


def _cmd_keys(args, client):
    for k in client.list_keys():
        print("%s%s" % (k["name"], " (default)" if k["default"] else ""))
        for field in ("state",) + tuple(f for f, _ in _KEY_FIELDS):
            print("  %s: %s" % (field, k[field]))
    return EXIT_OK


def _cmd_status(args, client):
    version, server = client.hello()
    print("server: %s" % server)
    print("protocol: %d" % version)
    text = client.status()
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write("%s: usage error: %s\n" % (self.prog, message))
        sys.exit(EXIT_USAGE)


def _socket_opt(p):
    # --socket is accepted after the command too, as `signer` does.
    p.add_argument("--socket", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _sign_parser(sub, name, help_text, what, metavar, func):
    """sign-cab and sign-script take the same options."""
    s = sub.add_parser(name, help=help_text)
    _socket_opt(s)
    s.add_argument("--key", default="", help="key name (default: the server's default key)")
    s.add_argument("--digest", default="sha256", choices=sorted(DIGEST_LENGTHS))
    s.add_argument("--program", help="SpcSpOpusInfo program name")
    s.add_argument("--url", help="SpcSpOpusInfo more-info URL")
    s.add_argument("-o", "--output", required=True, help="signed %s to write (atomically)" % what)
    s.add_argument("input", metavar=metavar)
    s.set_defaults(func=func, needs_server=True)


def _digest_parser(sub, name, help_text, metavar, func):
    s = sub.add_parser(name, help=help_text)
    s.add_argument("--digest", default="sha256", choices=sorted(DIGEST_LENGTHS))
    s.add_argument("input", metavar=metavar)
    s.set_defaults(func=func, needs_server=False)


def _parser():
    p = _Parser(prog="signerd_client.py", description="Reference client for signerd (docs/PROTOCOL.md).")
    p.add_argument("--socket", help="signerd socket (default $SIGNERD_SOCKET, else %s)" % DEFAULT_SOCKET)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server (default 60)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    _sign_parser(sub, "sign-cab", "sign a CAB through signerd", "CAB", "IN.cab", _cmd_sign_cab)
    _digest_parser(sub, "digest-cab", "print a CAB's Authenticode digest (offline)", "IN.cab", _cmd_digest_cab)
    _sign_parser(
        sub,
        "sign-script",
        "sign a PowerShell script (.ps1, .psm1, .psd1) through signerd",
        "script",
        "IN.ps1",
        _cmd_sign_script,
    )
    _digest_parser(
        sub,
        "digest-script",
        "print a PowerShell script's Authenticode digest (offline)",
        "IN.ps1",
        _cmd_digest_script,
    )

    s = sub.add_parser("cert", help="write a key's certificate")
    _socket_opt(s)
    s.add_argument("--key", default="", help="key name (default: the server's default key)")
    s.add_argument("--pem", action="store_true", help="PEM instead of DER")
    s.add_argument("--chain", action="store_true", help="with --pem: append the configured chain")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=_cmd_cert, needs_server=True)

    s = sub.add_parser("keys", help="list signerd's keys")
    _socket_opt(s)
    s.set_defaults(func=_cmd_keys, needs_server=True)

    s = sub.add_parser("status", help="show signerd's status")
    _socket_opt(s)
    s.set_defaults(func=_cmd_status, needs_server=True)
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    client = SignerdClient(args.socket, args.timeout) if args.needs_server else None
    try:
        return args.func(args, client)
    except SignerdError as e:
        sys.stderr.write("signerd_client.py: %s\n" % e)
    except (CabError, ScriptError, SignatureCheckError, ProtocolError, ConnectionError, TimeoutError, ValueError) as e:
        sys.stderr.write("signerd_client.py: %s\n" % e)
    except OSError as e:
        where = " %s" % e.filename if e.filename else ""
        sys.stderr.write("signerd_client.py:%s: %s\n" % (where, e.strerror or errno.errorcode.get(e.errno, e)))
    finally:
        if client is not None:
            client.close()
    return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
