#!/usr/bin/env bash
# The Python reference client (clients/python/signerd_client.py) against the
# real daemon: its CAB digest equals `signer digest-cab`, the CABs it signs and
# embeds pass `osslsigncode verify`, pipelined signing answers in order, ERROR
# replies become SignerdError with the right code, and keys/status/cert work.
# PowerShell scripts: its digest equals `signer digest-script` for every
# encoding, the scripts it signs (SIGN_SCRIPT, single and pipelined) pass
# `osslsigncode verify`, and it refuses malformed scripts with signer's messages.
BIN=$1
CLIENT_DIR=$(cd "$(dirname "$0")" && pwd)
. "$CLIENT_DIR/../../tests/integration/lib.sh"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' || skip "python3 is older than 3.8"
. "$HERE/ca.sh"
fixture_init
CLIENT=$CLIENT_DIR/signerd_client.py
py() { python3 "$CLIENT" "$@"; }
# pyrun: a Python snippet on stdin, with the client importable; its arguments are sys.argv[1:].
pyrun() { PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$CLIENT_DIR python3 - "$@"; }

note "keys and daemon"
make_key wsus rsa:2048
make_key ecdsa ec:p256
make_key retired rsa:2048
cd "$T"
pki_init
token_cert issued "$T/issuing"
ca_crl "$T/issuing" "$T/issuing.crl"
write_config "  - name: wsus
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    certificate: $T/wsus.pem
    default: true
    sign: [ cab, script ]
  - name: ecdsa
    uri: \"pkcs11:token=signerd-test;object=ecdsa\"
  - name: issued
    uri: \"pkcs11:token=signerd-test;object=issued\"
    chain: $T/chain.pem
  - name: retired
    uri: \"pkcs11:token=signerd-test;object=retired\"
    sign: [ cab, script ]
    state: retired" "revocation:
  crl: [ $T/issuing.crl ]"
daemon_start

note "CABs of every shape: the Python digest equals signer digest-cab"
mkdir -p "$T/in" && cd "$T/in"
echo "hello wsus" >a.txt
printf 'second file\n' >b.txt
printf 'third\n' >c.txt
: >empty.bin
head -c 5000000 /dev/urandom >big.bin
make_cab "$T/plain.cab" a.txt
GCAB_OPTS=-z make_cab "$T/zip.cab" a.txt b.txt big.bin
make_cab "$T/multi.cab" a.txt b.txt c.txt
make_cab "$T/empty.cab" empty.bin
make_cab "$T/big.cab" big.bin
cd "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -out "$T/other.pem" \
	-subj "/CN=other" -days 30 -addext extendedKeyUsage=codeSigning 2>/dev/null
osslsigncode sign -certs "$T/other.pem" -key "$T/other.key" -h sha256 -in "$T/multi.cab" \
	-out "$T/by-ossl.cab" >/dev/null
"$BIN/signer" sign-cab -o "$T/by-signer.cab" "$T/plain.cab"
SHAPES="plain zip multi empty big by-ossl by-signer"
for c in $SHAPES; do
	for alg in sha256 sha1 sha384 sha512; do
		want=$("$BIN/signer" digest-cab --digest $alg "$T/$c.cab")
		got=$(py digest-cab --digest $alg "$T/$c.cab")
		[ "${#want}" -ge 40 ] || fail "signer digest-cab printed '$want'"
		[ "$got" = "$want" ] || fail "$c.cab $alg: python $got, signer $want"
	done
	echo "ok   $c.cab: sha1, sha256, sha384 and sha512 digests agree"
done
# A signed CAB and its unsigned original have the same digest (section 5).
[ "$(py digest-cab "$T/by-ossl.cab")" = "$(py digest-cab "$T/multi.cab")" ] ||
	fail "signing changed the digest"

note "sign-cab with the Python client's own embedding, verified by osslsigncode"
for c in $SHAPES; do
	py sign-cab -o "$T/$c-py.cab" "$T/$c.cab"
	verify_cab "$T/$c-py.cab" "$T/wsus.pem"
	"$BIN/signer" verify-cab --ca "$T/wsus.pem" "$T/$c-py.cab" >/dev/null ||
		fail "signer verify-cab rejects $c-py.cab"
	echo "ok   $c.cab"
done
# Everything up to cbCabinet is what signer writes; only the blob differs.
pyrun "$T/plain-py.cab" "$T/by-signer.cab" <<'EOF'
import struct, sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
cb = struct.unpack_from("<I", a, 8)[0]
assert cb == struct.unpack_from("<I", b, 8)[0], "cbCabinet differs"
assert a[:48] == b[:48] and a[52:cb] == b[52:cb], "the signed CABs differ before cbCabinet"
sig_len = struct.unpack_from("<I", a, 48)[0]
assert len(a) == cb + sig_len and sig_len % 8 == 0, (len(a), cb, sig_len)
assert struct.unpack_from("<III", a, 40) == (0x00100000, cb, sig_len)
EOF
echo "ok   python and signer outputs agree byte for byte up to the signature"
# Re-signing the output of the Python client, and the file written in place.
py sign-cab -o "$T/twice-py.cab" "$T/zip-py.cab"
verify_cab "$T/twice-py.cab" "$T/wsus.pem"
cp "$T/multi.cab" "$T/inplace.cab"
py sign-cab -o "$T/inplace.cab" "$T/inplace.cab"
verify_cab "$T/inplace.cab" "$T/wsus.pem"
[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp')" ] || fail "temporary files left behind"

note "sha384 and sha512, program and URL, ECDSA and a CA-issued key"
for alg in sha384 sha512; do
	py sign-cab --digest $alg --program "Python $alg" --url "https://updates.example/$alg" \
		-o "$T/plain-$alg.cab" "$T/plain.cab"
	verify_cab "$T/plain-$alg.cab" "$T/wsus.pem"
	grep -qi "Message digest algorithm *: *$alg" "$T/verify.out" ||
		{ cat "$T/verify.out"; fail "osslsigncode does not report $alg"; }
	qgrep "Python $alg" "$T/verify.out" || { cat "$T/verify.out"; fail "program name missing"; }
	qgrep "https://updates.example/$alg" "$T/verify.out" || fail "URL missing"
	echo "ok   $alg"
done
py cert --key ecdsa -o "$T/ecdsa.der"
openssl x509 -inform DER -in "$T/ecdsa.der" -out "$T/ecdsa-from-py.pem"
cmp -s <(openssl x509 -in "$T/ecdsa.pem" -outform DER) "$T/ecdsa.der" || fail "ecdsa certificate differs"
py sign-cab --key ecdsa -o "$T/ec-py.cab" "$T/multi.cab"
verify_cab "$T/ec-py.cab" "$T/ecdsa.pem"
py sign-cab --key issued -o "$T/issued-py.cab" "$T/multi.cab"
verify_cab "$T/issued-py.cab" "$T/root/ca.pem"
echo "ok   ECDSA key and CA-issued key"

note "pipelined signing: 50 digests, 50 signatures, in order"
mkdir -p "$T/pipe"
pyrun "$T/pipe" <<'EOF'
import hashlib, os, sys
from signerd_client import SignerdClient, check_signature
out = sys.argv[1]
digests = [hashlib.sha256(b"digest %d" % i).digest() for i in range(50)]
def counter(text, name):
    lines = [l for l in text.split("\n") if l.startswith(name + ": ")]
    assert len(lines) == 1, (name, text)
    return int(lines[0].split(": ", 1)[1])
with SignerdClient(timeout=60) as c:
    leaf = c.get_cert()[0]
    before = counter(c.status(), "signatures")
    sigs = c.sign_cab_many(digests, window=8)
    assert len(sigs) == 50, len(sigs)
    for i, (d, s) in enumerate(zip(digests, sigs)):
        check_signature(s, d, "sha256", leaf)
        with open(os.path.join(out, "%02d.der" % i), "wb") as f:
            f.write(s)
        with open(os.path.join(out, "%02d.hex" % i), "w") as f:
            f.write(d.hex().upper())
    # check_signature refuses another digest, another algorithm, another signer.
    from signerd_client import SignatureCheckError
    other = c.get_cert("ecdsa")[0]
    for args, want in (((sigs[0], digests[1], "sha256", leaf), "not the one that was sent"),
                       ((sigs[0], digests[0], "sha384", leaf), "algorithm is not sha384"),
                       ((sigs[0], digests[0], "sha256", other), "signer is not the key's certificate"),
                       ((sigs[0][:-1], digests[0], "sha256", leaf), "runs past")):
        try:
            check_signature(*args)
            raise AssertionError("check_signature accepted: " + want)
        except SignatureCheckError as e:
            assert want in str(e), (want, str(e))
    # The same connection serves single requests after the pipeline, and the
    # server counted exactly 50 signatures.
    after = counter(c.status(), "signatures")
    assert after - before == 50, (before, after)
print("pipelined 50 ok")
EOF
for i in $(seq -w 0 49); do
	want=$(cat "$T/pipe/$i.hex")
	# The DigestInfo's OCTET STRING inside SpcIndirectDataContent holds the digest.
	openssl asn1parse -inform DER -in "$T/pipe/$i.der" >"$T/pipe/$i.asn1" ||
		fail "signature $i is not DER"
	qgrep "OCTET STRING *\[HEX DUMP\]:$want\$" "$T/pipe/$i.asn1" ||
		fail "signature $i does not carry digest $i ($want)"
	# ... and no other request's digest.
	[ "$(cat "$T"/pipe/*.hex | tr -d '\n' | grep -o "$want" | wc -l)" = 1 ] || fail "digest $i repeated"
done
echo "ok   openssl asn1parse finds digest i in signature i for all 50"
# One bad digest in the middle of a pipeline: its own error, the rest signed.
pyrun <<'EOF'
import hashlib
from signerd_client import SignerdClient, SignerdError, check_signature
digests = [hashlib.sha256(b"%d" % i).digest() for i in range(20)]
digests[7] = digests[7][:20]
with SignerdClient() as c:
    res = c.sign_cab_many(digests, window=4, return_errors=True)
    assert len(res) == 20
    for i, r in enumerate(res):
        if i == 7:
            assert isinstance(r, SignerdError) and r.code == 6 and r.name == "BAD_DIGEST_LENGTH", r
            assert r.index == 7
        else:
            check_signature(r, digests[i], "sha256")
    try:
        c.sign_cab_many(digests, window=4)
        raise AssertionError("no error raised")
    except SignerdError as e:
        assert (e.code, e.index) == (6, 7), (e.code, e.index)
    # The connection is still in step after draining.
    sig = c.sign_cab(digests[0])
    check_signature(sig, digests[0], "sha256")
print("pipelined error ok")
EOF

note "ERROR replies as SignerdError"
pyrun <<'EOF'
from signerd_client import SignerdClient, SignerdError
def expect(code, name, fn, *a, **kw):
    try:
        fn(*a, **kw)
    except SignerdError as e:
        assert (e.code, e.name) == (code, name), (e.code, e.name, e.message)
        assert e.message, "empty message"
        print("ok   %s (%d): %s" % (e.name, e.code, e.message))
        return e
    raise AssertionError("%s: no error" % name)
with SignerdClient() as c:
    assert c.hello() == (1, c.hello()[1])
    v, server = c.hello(7)
    assert v == 1 and server.startswith("signerd "), (v, server)
    e = expect(3, "UNKNOWN_KEY", c.sign_cab, bytes(32), key="nope")
    assert "nope" in e.message
    expect(6, "BAD_DIGEST_LENGTH", c.sign_cab, bytes(20), alg="sha256")
    expect(6, "BAD_DIGEST_LENGTH", c.sign_cab, bytes(64), alg="sha384")
    expect(5, "UNSUPPORTED_DIGEST", c.sign_cab, bytes(32), alg="md5")
    expect(5, "UNSUPPORTED_DIGEST", c.sign_cab, bytes(20), alg="sha1")
    expect(4, "KEY_RETIRED", c.sign_cab, bytes(32), key="retired")
    expect(3, "UNKNOWN_KEY", c.get_cert, "nope")
    # The connection stays open after each of these.
    assert len(c.get_cert("retired")) == 1
# A fresh connection for HELLO 0 (it must be the first request).
with SignerdClient() as c:
    expect(2, "UNSUPPORTED_VERSION", c._call, b"\x00\x00\x00\x05\x01\x00\x00\x00\x00", 0x02, bytes)
    assert "version" in c.status()
# Client-side limits: nothing over a field's maximum is sent.
with SignerdClient() as c:
    for bad in (dict(key="k" * 128), dict(program="p" * 256), dict(url="u" * 1024), dict(key="a\0b")):
        try:
            c.sign_cab(bytes(32), **bad)
            raise AssertionError("accepted %r" % bad)
        except ValueError:
            pass
    try:
        c.sign_cab(bytes(65))
        raise AssertionError("accepted a 65-byte digest")
    except ValueError:
        pass
EOF
expect_fail 1 py sign-cab --key nope -o "$T/nope.cab" "$T/plain.cab"
grep -q "UNKNOWN_KEY (3)" "$T/err" || fail "CLI message for an unknown key: $(cat "$T/err")"
[ ! -e "$T/nope.cab" ] || fail "an output was written for a refused signature"
expect_fail 1 py sign-cab --key retired -o "$T/nope.cab" "$T/plain.cab"
grep -q "KEY_RETIRED (4)" "$T/err" || fail "CLI message for a retired key: $(cat "$T/err")"
expect_fail 1 py sign-cab --digest sha1 -o "$T/nope.cab" "$T/plain.cab"
grep -q "UNSUPPORTED_DIGEST (5)" "$T/err" || fail "CLI message for sha1: $(cat "$T/err")"
expect_fail 2 py sign-cab "$T/plain.cab"
expect_fail 2 py frobnicate
expect_fail 1 py --socket "$T/no-such.sock" status
grep -q "cannot connect" "$T/err" || fail "no-socket message: $(cat "$T/err")"

note "CAB shapes that must be refused"
head -c 300 /dev/urandom >"$T/junk.cab"
pyrun "$T" <<'EOF'
import struct, sys
t = sys.argv[1]
plain = open(t + "/plain.cab", "rb").read()
signed = open(t + "/plain-py.cab", "rb").read()
def put(name, data):
    open("%s/bad-%s.cab" % (t, name), "wb").write(data)
b = bytearray(plain); struct.pack_into("<H", b, 30, struct.unpack_from("<H", b, 30)[0] | 2); put("multivolume", b)
put("trailing", plain + b"garbage!")
put("truncated", plain[:-5])
b = bytearray(signed); struct.pack_into("<H", b, 36, 24); put("reserve24", b)
b = bytearray(signed); b[38] = 4; put("folder-reserve", b)
b = bytearray(signed); struct.pack_into("<I", b, 48, struct.unpack_from("<I", b, 48)[0] + 8); put("siglen", b)
b = bytearray(signed); struct.pack_into("<I", b, 44, 100); put("sigoff", b)
put("short", plain[:20])
b = bytearray(plain); b[4] = 1; put("reserved1", b)
b = bytearray(plain); b[24] = 2; put("version", b)
b = bytearray(plain); b[30] |= 8; put("flag8", b)
b = bytearray(signed); b[42] = 0x11; put("tag", b)
cb = struct.unpack_from("<I", signed, 8)[0]
b = bytearray(signed); b[cb] = 0x31; put("notder", b)
sig_len = struct.unpack_from("<I", signed, 48)[0]
assert signed[-1] == 0, "the test needs a padded signature"
b = bytearray(signed); b[-1] = 1; put("padding", b)
b = bytearray(plain); struct.pack_into("<H", b, 36 + 6, 5); put("compression", b)
b = bytearray(plain); struct.pack_into("<I", b, 16, struct.unpack_from("<I", b, 16)[0] + 1); put("cofffiles", b)
coff = struct.unpack_from("<I", plain, 16)[0]
b = bytearray(plain); struct.pack_into("<H", b, coff + 8, 1); put("ifolder", b)
cab_start = struct.unpack_from("<I", plain, 36)[0]
b = bytearray(plain); struct.pack_into("<H", b, cab_start + 4, 0xFFF0); put("cfdata", b)
# One folder without data blocks, one file whose name is n bytes plus a NUL.
def named(n):
    cb = 36 + 8 + 16 + n + 1
    return (b"MSCF" + struct.pack("<IIIIIBBHHHHH", 0, cb, 0, 44, 0, 3, 1, 1, 1, 0, 0, 0)
            + struct.pack("<IHH", cb, 0, 0) + struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 0x20)
            + b"x" * n + b"\0")
put("name", named(257))
open(t + "/longname.cab", "wb").write(named(256))
b = bytearray(signed); struct.pack_into("<I", b, 48, 0); put("siglen0", b)
EOF
for bad in junk bad-multivolume bad-trailing bad-truncated bad-reserve24 bad-folder-reserve \
	bad-siglen bad-sigoff bad-short bad-reserved1 bad-version bad-flag8 bad-tag bad-notder \
	bad-padding bad-compression bad-cofffiles bad-ifolder bad-cfdata bad-name bad-siglen0; do
	expect_fail 1 py sign-cab -o "$T/out-$bad.cab" "$T/$bad.cab"
	[ ! -e "$T/out-$bad.cab" ] || fail "an output was written for $bad.cab"
	expect_fail 1 py digest-cab "$T/$bad.cab"
	echo "ok   $bad.cab refused: $(cat "$T/err")"
	# signer refuses the same shapes.
	expect_fail 1 "$BIN/signer" digest-cab "$T/$bad.cab"
done
expect_fail 1 py digest-cab "$T/bad-multivolume.cab"
grep -q "multi-volume" "$T/err" || fail "multi-volume message: $(cat "$T/err")"
expect_fail 1 py digest-cab "$T/bad-reserve24.cab"
grep -q "24 bytes" "$T/err" || fail "reserve message: $(cat "$T/err")"
expect_fail 1 py digest-cab "$T/bad-name.cab"
grep -q "not NUL-terminated within 257 bytes" "$T/err" || fail "name message: $(cat "$T/err")"
[ "$(py digest-cab "$T/longname.cab")" = "$("$BIN/signer" digest-cab "$T/longname.cab")" ] ||
	fail "a 256-byte name: digests differ"
expect_fail 1 py digest-cab "$T/junk.cab"
grep -q "not a CAB" "$T/err" || fail "junk message: $(cat "$T/err")"

note "differential: 400 mutated CABs, Python and signer accept and refuse alike"
pyrun "$T" "$BIN/signer" <<'EOF'
import random, struct, subprocess, sys
from signerd_client import cab_digest, CabError
t, signer = sys.argv[1], sys.argv[2]
rng = random.Random(20261123)
seeds = [open("%s/%s.cab" % (t, c), "rb").read() for c in ("multi", "multi-py", "zip", "empty-py")]
accepted = refused = 0
for i in range(400):
    b = bytearray(rng.choice(seeds))
    cb = struct.unpack_from("<I", b, 8)[0]
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        if kind < 0.5:  # a header, folder or file byte
            b[rng.randrange(min(len(b), 140))] = rng.choice((0, 1, 2, 3, 4, 0x10, 0x30, 0x80, 0xFF, rng.randrange(256)))
        elif kind < 0.7:  # a u32 header field to a nearby or boundary value
            off = rng.choice((8, 16, 36, 44, 48, 60))
            if off + 4 <= len(b):
                v = struct.unpack_from("<I", b, off)[0]
                struct.pack_into("<I", b, off, rng.choice((0, v + 1, v - 1 if v else 0, v + 24, 0xFFFFFFFF, len(b))))
        elif kind < 0.85:  # the file's end
            b = b[: rng.randrange(len(b) + 1)] if rng.random() < 0.5 else b + bytes(rng.randrange(1, 17))
        else:  # a byte of the signature area
            if len(b) > cb:
                b[rng.randrange(cb, len(b))] ^= 1 << rng.randrange(8)
    path = "%s/mut.cab" % t
    open(path, "wb").write(b)
    r = subprocess.run([signer, "digest-cab", path], capture_output=True, text=True)
    try:
        mine = cab_digest(bytes(b)).hex()
    except CabError as e:
        mine = None
        why = str(e)
    theirs = r.stdout.strip() if r.returncode == 0 else None
    if mine != theirs:
        open("%s/mismatch.cab" % t, "wb").write(b)
        sys.exit("mutation %d: python %s, signer %s (%s)" % (i, mine or "refuses: " + why, theirs or "refuses: " + r.stderr.strip(), path))
    if mine is None:
        refused += 1
    else:
        accepted += 1
assert refused > 100 and accepted > 20, (accepted, refused)
print("ok   400 mutations: %d accepted with equal digests, %d refused by both" % (accepted, refused))
EOF

note "protocol errors from a fake server: bounded reads, idle reconnection"
pyrun "$T/fake.sock" <<'EOF'
import os, socket, struct, sys, threading, time
from signerd_client import SignerdClient, SignerdError, ProtocolError
path = sys.argv[1]
def frame(t, body=b""):
    return struct.pack(">IB", 1 + len(body), t) + body
def blob(b):
    return struct.pack(">I", len(b)) + b
replies = []  # per connection: the answers, one per request, then close
def serve(srv):
    while True:
        try:
            conn, _ = srv.accept()
        except OSError:
            return
        script = replies.pop(0)
        with conn:
            if isinstance(script, bytes):  # a refusal at connection time, then close
                conn.sendall(script)
                time.sleep(0.2)  # let the client's request arrive and be discarded
                continue
            try:
                for reply in script:
                    head = conn.recv(4, socket.MSG_WAITALL)
                    if len(head) < 4:
                        break
                    conn.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
                    conn.sendall(reply)
            except OSError:
                pass  # the client hung up first: expected after a protocol error
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(8)
threading.Thread(target=serve, args=(srv,), daemon=True).start()
good_sig = frame(0x11, blob(b"\x30\x00"))
# A whole 65537-byte frame: a client that read it would find a good signature in it.
big = struct.pack(">IB", 65537, 0x11) + blob(b"\x30\x82\xff\xfc" + bytes(65532))
cases = [
    ("length 0", b"\x00\x00\x00\x00", "frame length 0 from the server is outside 1..65536"),
    ("length 65537", big, "frame length 65537 from the server is outside 1..65536"),
    ("blob past the end", frame(0x11, struct.pack(">I", 10) + b"\x30\x00"), "pkcs7 needs 10 bytes, only 2 left"),
    ("trailing bytes", frame(0x11, blob(b"\x30\x00") + b"\x00"), "1 bytes left over"),
    ("empty pkcs7", frame(0x11, blob(b"")), "pkcs7 is 0 bytes, allowed 1..65531"),
    ("wrong type", frame(0x13, blob(b"\x30\x00")), "expected message type 0x11, got 0x13"),
    ("truncated frame", struct.pack(">I", 100) + b"\x11\x00", "closed the connection in the middle of a frame"),
    ("ERROR message over 511", frame(0x7F, struct.pack(">I", 3) + blob(b"x" * 512)), "message is 512 bytes, allowed 0..511"),
]
for name, reply, want in cases:
    replies.append([reply])
    c = SignerdClient(path, timeout=5)
    try:
        c.sign_cab(bytes(32))
        raise AssertionError("%s: accepted" % name)
    except ProtocolError as e:
        assert want in str(e), (name, str(e))
        print("ok   %s: %s" % (name, e))
    # The connection is unusable afterwards.
    try:
        c.status()
        raise AssertionError("%s: connection reused after a protocol error" % name)
    except ConnectionError:
        pass
# The same checks in the pipelined path.
replies.append([good_sig, big])
try:
    SignerdClient(path, timeout=5).sign_cab_many([bytes(32)] * 2)
    raise AssertionError("pipelined: accepted a 65537-byte frame")
except ProtocolError as e:
    assert "frame length 65537 from the server is outside 1..65536" in str(e), str(e)
    print("ok   pipelined length 65537: %s" % e)
decoders = [
    ("CERT count 0", "get_cert", frame(0x13, struct.pack(">I", 0))),
    ("CERT count too big", "get_cert", frame(0x13, struct.pack(">I", 1000) + blob(b"\x30\x00"))),
    ("KEYS default 2", "list_keys", frame(0x15, struct.pack(">I", 1) + blob(b"k") + b"\x02" + blob(b"") * 7)),
    ("KEYS name over 127", "list_keys", frame(0x15, struct.pack(">I", 1) + blob(b"k" * 128) + b"\x01" + blob(b"") * 7)),
    ("HELLO_OK version 2", "hello", frame(0x02, struct.pack(">I", 2) + blob(b"x"))),
    ("STATUS_OK NUL", "status", frame(0x17, blob(b"a\0b"))),
]
for name, method, reply in decoders:
    replies.append([reply])
    try:
        getattr(SignerdClient(path, timeout=5), method)()
        raise AssertionError("%s: accepted" % name)
    except ProtocolError as e:
        print("ok   %s: %s" % (name, e))
# A well-formed KEYS and an ERROR with an unknown code.
replies.append([frame(0x15, struct.pack(">I", 1) + blob(b"k") + b"\x01" + b"".join(blob(x) for x in
    (b"active", b"CN=k", b"0A", b"ab" * 20, b"2030-01-01T00:00:00Z", b"good", b"2029-01-01T00:00:00Z"))),
    frame(0x7F, struct.pack(">I", 99) + blob(b"new code"))])
with SignerdClient(path, timeout=5) as c:
    assert c.list_keys() == [dict(name="k", default=True, state="active", subject="CN=k", serial="0A",
        sha1="ab" * 20, not_after="2030-01-01T00:00:00Z", revocation="good",
        crl_next_update="2029-01-01T00:00:00Z")]
    try:
        c.status()
        raise AssertionError("unknown code accepted")
    except SignerdError as e:
        assert (e.code, e.name, e.message) == (99, "UNKNOWN_ERROR_99", "new code"), (e.code, e.name)
# Idle close: the server closes after one answer; the next request reconnects.
replies.append([good_sig])
replies.append([good_sig])
with SignerdClient(path, timeout=5) as c:
    assert c.sign_cab(bytes(32)) == b"\x30\x00"
    time.sleep(0.2)
    assert c.sign_cab(bytes(32)) == b"\x30\x00"
print("ok   reconnect after the server closed an idle connection")
# A refusal at connection time (section 1) reaches the caller as SignerdError,
# single and pipelined, even when the request itself could not be sent.
refusal = frame(0x7F, struct.pack(">I", 7) + blob(b"this user is not allowed to use signerd"))
for how in ("single", "pipelined"):
    replies.append(refusal)
    c = SignerdClient(path, timeout=5)
    c.connect()
    time.sleep(0.5)  # the server has sent its ERROR and closed
    try:
        if how == "single":
            c.sign_cab(bytes(32))
        else:
            c.sign_cab_many([bytes(32)] * 100)
        raise AssertionError("refusal not reported")
    except SignerdError as e:
        assert (e.code, e.name) == (7, "NOT_AUTHORIZED"), (e.code, e.name)
        assert e.message == "this user is not allowed to use signerd", e.message
    print("ok   %s: a connection-time refusal is reported as NOT_AUTHORIZED" % how)
srv.close()
EOF

note "PowerShell scripts: digests equal signer digest-script, signatures pass osslsigncode"
mkdir -p "$T/ps" && cd "$T/ps"
pyrun "$T/ps" <<'EOF'
import sys
t = sys.argv[1]
intl = 'Write-Host "Gr\u00fc\u00dfe \u2603 \U0001F600"\r\n$x = 1\r\n'
files = {
    "ascii.ps1": b'Write-Host "hello"\r\n$x = 1\r\n',
    "nobom.ps1": intl.encode(),
    "bom.ps1": b"\xef\xbb\xbf" + intl.encode(),
    "u16.ps1": b"\xff\xfe" + intl.encode("utf-16le"),
    "lf.psm1": b"function F { 1 }\n",
    "nonl.psd1": b"@{ ModuleVersion = '1.0' }",
    # refused, with the same message as signer's
    "bad-be.ps1": b"\xfe\xff\x00W",
    "bad-utf8.ps1": b"x\n\xed\xa0\x80",
    "bad-nul.ps1": b"ab\x00",
    "bad-odd.ps1": b"\xff\xfeW\x00\n",
    "bad-surrogate.ps1": b"\xff\xfeW\x00\x00\xdc",
    "bad-u32.ps1": b"\xff\xfe\x00\x00W\x00\x00\x00",
    "bad-after.ps1": b"x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\nmore\r\n",
    "bad-noend.ps1": b"x\r\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n",
    "bad-b64.ps1": b"x\r\n# SIG # Begin signature block\r\n# MA==\r\n# MAMC\r\n# SIG # End signature block\r\n",
    "bad-der.ps1": b"x\r\n# SIG # Begin signature block\r\n# QUJD\r\n# SIG # End signature block\r\n",
    "bad-first.ps1": b"# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
    "bad-mixed.ps1": b"x\n# SIG # Begin signature block\r\n# MAMCAQU=\r\n# SIG # End signature block\r\n",
}
for name, data in files.items():
    open("%s/%s" % (t, name), "wb").write(data)
EOF
osslsigncode sign -certs "$T/other.pem" -key "$T/other.key" -h sha256 -in u16.ps1 -out ossl-u16.ps1 >/dev/null
osslsigncode sign -certs "$T/other.pem" -key "$T/other.key" -h sha256 -in nobom.ps1 -out ossl-nobom.ps1 >/dev/null
"$BIN/signer" sign-script -o signer-bom.ps1 bom.ps1
for f in ascii.ps1 nobom.ps1 bom.ps1 u16.ps1 lf.psm1 nonl.psd1 ossl-u16.ps1 ossl-nobom.ps1 signer-bom.ps1; do
	for alg in sha256 sha1 sha384 sha512; do
		want=$("$BIN/signer" digest-script --digest $alg "$f" 2>/dev/null)
		got=$(py digest-script --digest $alg "$f" 2>/dev/null)
		[ "${#want}" -ge 40 ] || fail "signer digest-script printed '$want'"
		[ "$got" = "$want" ] || fail "$f $alg: python $got, signer $want"
	done
	echo "ok   $f: digests agree"
done
for f in ascii.ps1 nobom.ps1 bom.ps1 u16.ps1 lf.psm1 nonl.psd1 ossl-u16.ps1 signer-bom.ps1; do
	py sign-script -o "py-$f" "$f" 2>"$T/warn"
	osslsigncode verify -CAfile "$T/wsus.pem" -in "py-$f" >"$T/verify.out" 2>&1 ||
		{ cat "$T/verify.out"; fail "osslsigncode rejects py-$f"; }
	qgrep "Signature verification: ok" "$T/verify.out" || fail "py-$f: no good signature"
	"$BIN/signer" verify-script --ca "$T/wsus.pem" "py-$f" >/dev/null || fail "signer verify-script rejects py-$f"
	echo "ok   py sign-script $f"
done
# The same layout as signer writes: the same text, a block of the same size.
"$BIN/signer" sign-script -o signer-u16.ps1 u16.ps1
cmp -s -n "$(stat -c %s u16.ps1)" py-u16.ps1 signer-u16.ps1 || fail "the signed text differs"
[ "$(stat -c %s py-u16.ps1)" = "$(stat -c %s signer-u16.ps1)" ] || fail "python and signer blocks differ in size"
py sign-script -o py-nobom.ps1 nobom.ps1 2>"$T/warn"
qgrep "warning: nobom.ps1 is UTF-8 without a byte-order mark" "$T/warn" || fail "no BOM-less warning: $(cat "$T/warn")"
for f in bad-*.ps1; do
	expect_fail 1 py digest-script "$f"
	pymsg=$(sed 's/^signerd_client.py: //' "$T/err")
	expect_fail 1 "$BIN/signer" digest-script "$f"
	cmsg=$(sed 's/^signer: //' "$T/err")
	[ "$pymsg" = "$cmsg" ] || fail "$f: python says '$pymsg', signer says '$cmsg'"
	expect_fail 1 py sign-script -o "out-$f" "$f"
	[ ! -e "out-$f" ] || fail "an output was written for $f"
	echo "ok   $f refused: $pymsg"
done
note "pipelined script signing: sign_script_many, each output verified by osslsigncode"
PIPED="ascii.ps1 nobom.ps1 bom.ps1 u16.ps1 lf.psm1 nonl.psd1 ossl-u16.ps1 signer-bom.ps1"
# shellcheck disable=SC2086
pyrun $PIPED <<'EOF'
import hashlib, sys
from signerd_client import (SignerdClient, SignerdError, check_signature, script_digest,
                            script_embed, write_file_atomic)
names = sys.argv[1:]
data = [open(n, "rb").read() for n in names]
digests = [script_digest(d) for d in data]
with SignerdClient() as c:
    leaf = c.get_cert()[0]
    sigs = c.sign_script_many(digests, window=3)
    assert len(sigs) == len(names), len(sigs)
    for name, d, digest, sig in zip(names, data, digests, sigs):
        check_signature(sig, digest, "sha256", leaf, subject="script")
        signed = script_embed(d, sig, name)
        assert script_digest(signed) == digest, name
        write_file_atomic("pipe-" + name, signed)
    # sha384 through the pipeline too.
    d384 = script_digest(data[3], "sha384")
    sig = c.sign_script_many([d384], alg="sha384")[0]
    check_signature(sig, d384, "sha384", leaf, subject="script")
    write_file_atomic("pipe384-u16.ps1", script_embed(data[3], sig))
    # A bad digest in the middle: its own error, the others signed (return_errors),
    # or raised with its index after the rest drained; the connection stays in step.
    mixed = [hashlib.sha256(b"s%d" % i).digest() for i in range(12)]
    mixed[5] = mixed[5][:20]
    res = c.sign_script_many(mixed, window=4, return_errors=True)
    for i, r in enumerate(res):
        if i == 5:
            assert isinstance(r, SignerdError) and r.name == "BAD_DIGEST_LENGTH" and r.index == 5, r
        else:
            check_signature(r, mixed[i], "sha256", leaf, subject="script")
    try:
        c.sign_script_many(mixed, window=4)
        raise AssertionError("no error raised")
    except SignerdError as e:
        assert (e.code, e.index) == (6, 5), (e.code, e.index)
    # "issued" signs CABs only: every SIGN_SCRIPT is refused, SIGN_CAB still works.
    res = c.sign_script_many(mixed[:3], key="issued", return_errors=True)
    assert [getattr(r, "name", None) for r in res] == ["NOT_AUTHORIZED"] * 3, res
    check_signature(c.sign_cab_many(mixed[:1], key="issued")[0], mixed[0], "sha256")
print("ok   sign_script_many: %d scripts in order, errors per request" % len(names))
EOF
for out in $(printf 'pipe-%s ' $PIPED) pipe384-u16.ps1; do
	alg=sha256 && [ "$out" != pipe384-u16.ps1 ] || alg=sha384
	osslsigncode verify -CAfile "$T/wsus.pem" -in "$out" >"$T/verify.out" 2>&1 ||
		{ cat "$T/verify.out"; fail "osslsigncode rejects $out"; }
	qgrep "Signature verification: ok" "$T/verify.out" || fail "$out: no good signature"
	want=$("$BIN/signer" digest-script --digest $alg "$out" 2>/dev/null | tr a-f A-F)
	qgrep "Calculated message digest : $want" "$T/verify.out" || fail "$out: osslsigncode's digest is not $want"
	"$BIN/signer" verify-script --ca "$T/wsus.pem" "$out" >/dev/null || fail "signer verify-script rejects $out"
	echo "ok   osslsigncode and signer verify-script accept $out ($alg)"
done

cp ascii.ps1 script.txt
expect_fail 2 py sign-script -o out.txt script.txt
qgrep "not a PowerShell script name" "$T/err" || fail "extension message: $(cat "$T/err")"
pyrun <<'EOF'
import hashlib
from signerd_client import SignerdClient, SignerdError, SignatureCheckError, check_signature
d = hashlib.sha256(b"script").digest()
with SignerdClient() as c:
    leaf = c.get_cert()[0]
    script_sig = c.sign_script(d)
    cab_sig = c.sign_cab(d)
    check_signature(script_sig, d, "sha256", leaf, subject="script")
    check_signature(cab_sig, d, "sha256", leaf)
    for sig, subject, want in ((cab_sig, "script", "this is a cab signature, not a script signature"),
                               (script_sig, "cab", "this is a script signature, not a cab signature")):
        try:
            check_signature(sig, d, "sha256", leaf, subject=subject)
            raise AssertionError("accepted: " + want)
        except SignatureCheckError as e:
            assert want in str(e), str(e)
    # SIGN_SCRIPT answers errors as SIGN_CAB does.
    # "issued" signs CABs only (keys[].sign default): NOT_AUTHORIZED.
    for digest, kw, code in ((d, dict(key="nope"), 3), (d, dict(key="retired"), 4),
                             (d, dict(key="issued"), 7),
                             (bytes(20), dict(alg="sha1"), 5), (bytes(20), {}, 6)):
        try:
            c.sign_script(digest, **kw)
            raise AssertionError("no error for %r" % kw)
        except SignerdError as e:
            assert e.code == code, (kw, e.code, e.message)
print("ok   sign_script: script and CAB signatures are never mixed up; errors as for SIGN_CAB")
EOF
cd "$T"

note "keys, status, cert"
py keys >"$T/keys"
cat >"$T/keys.want" <<EOF
wsus (default)
  state: active
ecdsa
  state: active
issued
  state: active
retired
  state: retired
EOF
grep -E '^[a-z]|^  state: ' "$T/keys" | diff "$T/keys.want" - || fail "py keys: names, default, states"
[ "$(grep -c '' "$T/keys")" = 32 ] || { cat "$T/keys"; fail "py keys: want 4 x 8 lines"; }
want_sha1=$(openssl x509 -in "$T/wsus.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f)
want_serial=$(openssl x509 -in "$T/wsus.pem" -noout -serial | sed 's/.*=//')
want_end=$(date -u -d "$(openssl x509 -in "$T/wsus.pem" -noout -enddate | sed 's/.*=//')" +%Y-%m-%dT%H:%M:%SZ)
sed -n '/^wsus/,/^[a-z]/p' "$T/keys" >"$T/keys.wsus"
for want in "  subject: O=signerd tests,CN=wsus test signer" "  serial: $want_serial" \
	"  sha1: $want_sha1" "  not_after: $want_end" "  revocation: not-applicable" \
	"  crl_next_update: "; do
	grep -qxF "$want" "$T/keys.wsus" || { cat "$T/keys"; fail "py keys lacks \"$want\""; }
done
sed -n '/^issued/,/^[a-z]/p' "$T/keys" >"$T/keys.issued"
want_next=$(date -u -d "$(openssl crl -inform DER -in "$T/issuing.crl" -noout -nextupdate | sed 's/.*=//')" +%Y-%m-%dT%H:%M:%SZ)
for want in "  subject: O=signerd tests,CN=issued" "  serial: 1000" "  revocation: good" \
	"  crl_next_update: $want_next"; do
	grep -qxF "$want" "$T/keys.issued" || { cat "$T/keys"; fail "py keys lacks \"$want\""; }
done
echo "ok   keys"
py status >"$T/status"
grep -qx "protocol: 1" "$T/status" || { cat "$T/status"; fail "py status: protocol"; }
grep -qE "^server: signerd [0-9]" "$T/status" || { cat "$T/status"; fail "py status: server"; }
grep -q "^signatures: " "$T/status" || { cat "$T/status"; fail "py status: text"; }
for want in "version: $(sed -n 's/^server: signerd //p' "$T/status")" "keys: 4" "default_key: wsus" \
	"token_state: logged-in" "frozen: no"; do
	grep -qxF "$want" "$T/status" || { cat "$T/status"; fail "py status lacks \"$want\""; }
done
echo "ok   status"
py cert -o "$T/wsus.der"
cmp -s <(openssl x509 -in "$T/wsus.pem" -outform DER) "$T/wsus.der" || fail "py cert differs"
py cert --key issued --pem --chain -o "$T/issued-chain.pem"
[ "$(grep -c 'BEGIN CERTIFICATE' "$T/issued-chain.pem")" = 3 ] || fail "chain of 3 expected"
cmp -s "$T/issued-chain.pem" <(cat "$T/issued.pem" "$T/chain.pem" | openssl crl2pkcs7 -nocrl -certfile /dev/stdin |
	openssl pkcs7 -print_certs | grep -v '^subject=\|^issuer=\|^$') || fail "chain PEM differs"
py --socket "$SIGNERD_SOCKET" cert --key issued -o "$T/issued.der"
cmp -s <(openssl x509 -in "$T/issued.pem" -outform DER) "$T/issued.der" || fail "issued cert differs"
echo "ok   cert"

daemon_stop_checked
echo "test_signerd_client: all passed"
