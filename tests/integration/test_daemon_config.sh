#!/usr/bin/env bash
# Startup refusals (each precise, daemon does not start), SIGHUP reload, SIGTERM drain.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init
make_key k1 rsa:2048
make_key k2 rsa:2048
KEYS="  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    default: true
  - name: k2
    uri: \"pkcs11:token=signerd-test;object=k2\""

# must_refuse STATUS PATTERN: signerd --check and signerd -f both refuse with that message.
must_refuse() {
	expect_fail "$1" "$BIN/signerd" --check -c "$T/signerd.yaml"
	grep -q -- "$2" "$T/err" || { cat "$T/err"; fail "message lacks \"$2\""; }
	expect_fail "$1" timeout 20 "$BIN/signerd" -f -c "$T/signerd.yaml"
	grep -q -- "$2" "$T/err" || { cat "$T/err"; fail "message lacks \"$2\""; }
	[ ! -S "$T/signerd.sock" ] || fail "a socket was created by a refused start"
	echo "ok   refused: $2"
}

note "startup refusals"
printf 'socket:\n  path: [unclosed\n' >"$T/signerd.yaml"
must_refuse 1 "signerd.yaml:[0-9]*:[0-9]*:"
write_config "$KEYS" "bogus_section: 1"
must_refuse 1 "signerd.yaml:[0-9]*:[0-9]*: .*bogus_section"
write_config "$KEYS"
sed -i "s|$SOFTHSM_MODULE|/usr/lib/softhsm/no-such-module.so|" "$T/signerd.yaml"
must_refuse 1 "no-such-module.so"
write_config "$KEYS"
sed -i "s|pin_file: .*|pin: \"123456\"|" "$T/signerd.yaml"
must_refuse 1 "inline PIN"
(umask 077 && printf '999999\n' >"$T/badpin")
write_config "$KEYS"
sed -i "s|pin_file: .*|pin_file: $T/badpin|" "$T/signerd.yaml"
must_refuse 3 "CKR_PIN_INCORRECT"
write_config "$KEYS
  - name: ghost
    uri: \"pkcs11:token=signerd-test;object=ghost\""
must_refuse 1 "no private key \"ghost\""
write_config "  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    certificate: $T/k2.pem"
must_refuse 1 "does not match key"
write_config "$KEYS"
sed -i "s|pkcs11:token=signerd-test\"|pkcs11:token=other-token\"|" "$T/signerd.yaml"
must_refuse 1 "no token matches"

write_config "$KEYS" "revocation:
  fetch_cdp: true
  cache_dir: crl-cache"
must_refuse 1 "revocation.cache_dir: expected an absolute path"

for i in $(seq 1 16); do cat "$T/k1.pem"; done >"$T/long-chain.pem"
write_config "  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    chain: $T/long-chain.pem"
must_refuse 1 "the chain holds 16 certificates; at most 15"

note "module allowlist"
write_config "$KEYS"
sed -i "s|  sessions:|  allowed_modules: [ /usr/lib/x86_64-linux-gnu/pkcs11/ ]\n  sessions:|" "$T/signerd.yaml"
must_refuse 1 "allowed_modules"

note "reload"
write_config "$KEYS"
daemon_start
"$BIN/signer" cert -o "$T/got1.pem"
cmp -s <(openssl x509 -in "$T/got1.pem" -outform DER) <(openssl x509 -in "$T/k1.pem" -outform DER) ||
	fail "default key is not k1"
cp "$T/signerd.yaml" "$T/good.yaml"
printf 'keys: [\n' >"$T/signerd.yaml"
kill -HUP "$DAEMON_PID"
sleep 1
grep -q "reload refused" "$T/signerd.log" || fail "bad reload not logged"
echo hi >"$T/a.txt" && (cd "$T" && gcab -c -n "$T/a.cab" a.txt)
"$BIN/signer" sign-cab -o "$T/after-bad.cab" "$T/a.cab"
verify_cab "$T/after-bad.cab" "$T/k1.pem"
echo "ok   invalid config refused on SIGHUP, old one keeps serving"
sed -e 's/    default: true//' "$T/good.yaml" >"$T/signerd.yaml"
printf '    default: true\n' >>"$T/signerd.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do
	grep -q 'reloaded: 2 keys, default "k2"' "$T/signerd.log" && break
	sleep 0.1
done
grep -q 'reloaded: 2 keys, default "k2"' "$T/signerd.log" || fail "reload not applied"
"$BIN/signer" sign-cab -o "$T/after-good.cab" "$T/a.cab"
verify_cab "$T/after-good.cab" "$T/k2.pem"
echo "ok   SIGHUP switched the default key to k2"

note "rate_per_uid"
sed -i 's/^keys:/limits:\n  rate_per_uid: 5\nkeys:/' "$T/signerd.yaml"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do
	[ "$(grep -c 'reloaded: 2 keys' "$T/signerd.log")" -ge 2 ] && break
	sleep 0.1
done
rc=0
"$BIN/load_client" "$T/signerd.sock" 1 40 40 >"$T/rate.txt" 2>&1 || rc=$?
ok=$(sed -n 's/^requests ok: //p' "$T/rate.txt")
[ "$rc" = 1 ] && [ "${ok:-0}" -ge 1 ] && [ "${ok:-0}" -lt 40 ] && grep -q RATE_LIMITED "$T/rate.txt" ||
	{ cat "$T/rate.txt"; fail "40 requests at once under rate_per_uid 5 were not limited"; }
echo "ok   rate_per_uid 5: $ok of 40 simultaneous requests signed, the rest RATE_LIMITED"
sed -i 's/  rate_per_uid: 5/  rate_per_uid: 0/' "$T/signerd.yaml"
kill -HUP "$DAEMON_PID"
sleep 0.5

note "max_connections: connections beyond it get BUSY, the others are served"
sed -i 's/^limits:/limits:\n  max_connections: 4/' "$T/signerd.yaml"
kill -HUP "$DAEMON_PID"
sleep 0.5
# Four connections held open, then a fifth: it must get ERROR BUSY (code 17).
python3 - "$T/signerd.sock" >"$T/busy.txt" 2>&1 <<'PY' || true
import socket, struct, sys, time
held = []
for _ in range(4):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
hdr = s.recv(4); n = struct.unpack(">I", hdr)[0]; body = s.recv(n)
code = struct.unpack(">I", body[1:5])[0] if body[0] == 0x7f else -1
print("reply type 0x%02x code %d" % (body[0], code))
for h in held: h.close()
PY
grep -q "reply type 0x7f code 17" "$T/busy.txt" || { cat "$T/busy.txt"; fail "the connection over max_connections did not get BUSY"; }
sleep 0.3
"$BIN/signer" sign-cab -o "$T/after-busy.cab" "$T/a.cab" || fail "not served once connections were freed"
echo "ok   the fifth connection got ERROR BUSY (17); served again once others closed"
sed -i '/  max_connections: 4/d' "$T/signerd.yaml"
kill -HUP "$DAEMON_PID"
sleep 0.3

note "SIGTERM drains in-flight requests"
mkdir -p "$T/many" "$T/many-out"
for i in $(seq 1 40); do cp "$T/a.cab" "$T/many/c$i.cab"; done
"$BIN/signer" sign-cab --out-dir "$T/many-out" "$T"/many/*.cab &
client=$!
sleep 0.05
daemon_stop_checked
wait $client && echo "ok   batch finished across SIGTERM" ||
	echo "note: the batch started after the drain began (connection refused), which is allowed"
for f in "$T"/many-out/*.cab; do
	[ -e "$f" ] || continue
	verify_cab "$f" "$T/k2.pem"
done
echo "test_daemon_config: all passed"
