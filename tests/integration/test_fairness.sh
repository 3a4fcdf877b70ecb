#!/usr/bin/env bash
# Fair scheduling between publishers: while one uid keeps hundreds of
# requests queued, another uid's single request is signed after about one
# signature per worker, not after the whole backlog (signer/jobq.c). The
# order is read from the audit log, whose records are written as each
# signature starts; the p11shim slows C_Sign so the backlog stays queued.
BIN=$1
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to run a client as another user"
need setpriv
SHIM=$(cd "$BIN/../lib" 2>/dev/null && pwd)/libp11shim.so
[ -e "$SHIM" ] || skip "libp11shim.so not built"
fixture_init
cd "$T"
make_key k rsa:2048
export P11SHIM_MODULE=$SOFTHSM_MODULE P11SHIM_CONTROL=$T/shim.ctl
ctl() { printf '%s\n' "$@" >"$T/shim.ctl.tmp" && mv -f "$T/shim.ctl.tmp" "$T/shim.ctl"; }
ctl
chmod 711 "$T"
mkdir -m 777 "$T/pub"
echo hi >"$T/pub/a.txt" && (cd "$T/pub" && gcab -c -n "$T/pub/a.cab" a.txt) && chmod 644 "$T/pub/a.cab"
write_config "  - name: k
    uri: \"pkcs11:token=signerd-test;object=k\"
    default: true" "audit:
  path: $T/audit.log
limits:
  request_timeout: 60s"
sed -i "s|  mode: \"0600\"|  mode: \"0666\"\n  allow:\n    - user: root\n    - user: daemon|" signerd.yaml
sed -i "s|  module: .*|  module: $SHIM\n  allowed_modules: [ $(dirname "$SHIM")/ ]|" signerd.yaml
EXTRA_CLEANUP=ctl
daemon_start
USIGNER=$(user_signer)
duid=$(id -u daemon)
# records UID: how many request records uid UID has in the log so far
records() { grep -c "\"uid\":$1," audit.log || true; }

note "one uid's backlog does not hold up another uid's request"
ctl "C_Sign delay_ms=20"
"$BIN/load_client" "$T/signerd.sock" 4 100 64 >load.txt 2>&1 &
load=$!
records_at_least() { [ "$(records "$1")" -ge "$2" ]; }
until_ok 100 records_at_least 0 8 || true
before=$(records 0)
[ "$before" -ge 8 ] || fail "the backlog did not start ($before records)"
setpriv --reuid=daemon --regid=daemon --clear-groups "$USIGNER" sign-cab -o "$T/pub/d.cab" \
	"$T/pub/a.cab" || fail "the other uid's request failed"
verify_cab "$T/pub/d.cab" "$T/k.pem"
# uid 0 records written before the other uid's record
ahead=$(awk -v u="\"uid\":$duid," 'index($0, u) { exit } /"uid":0,/ { n++ } END { print n + 0 }' audit.log)
waited=$((ahead - before))
kill -0 "$load" 2>/dev/null || fail "the backlog was gone before the other request came"
ctl
wait "$load" || { cat load.txt; fail "the backlog's requests failed"; }
[ "$waited" -le 16 ] ||
	fail "uid $duid waited for $waited of uid 0's signatures (a FIFO would make it ~250)"
echo "ok   uid $duid's request waited for $waited of uid 0's queued signatures"

note "under a backlog, a client with one request in flight gets its reply at once"
# Pipelined replies wait up to 4 ms under a backlog to leave together (the
# loop's timerfd). libtimerstretch.so makes that wait 10 minutes: a reply that
# waits for it would arrive only after the backlog is gone. Audit off: with
# it on, held replies leave on the audit commit instead.
daemon_stop_checked
STRETCH=$(cd "$BIN/../lib" && pwd)/libtimerstretch.so
[ -e "$STRETCH" ] || fail "libtimerstretch.so not built"
cp signerd.yaml signerd-audit.yaml
sed -i '/^audit:/d; /^  path: .*audit.log/d' signerd.yaml
! qgrep "^audit:" signerd.yaml || fail "the audit log is still configured"
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
DAEMON_WRAPPER="env LD_PRELOAD=$STRETCH TIMERSTRETCH_MS=600000 ${DAEMON_WRAPPER:-}" daemon_start
signatures() { "$BIN/signer" status | sed -n 's/^signatures: //p'; }
signed_at_least() { [ "$(signatures)" -ge "$1" ]; }
ctl "C_Sign delay_ms=50"
"$BIN/load_client" "$T/signerd.sock" 2 64 64 >load.txt 2>&1 &
load=$!
until_ok 100 signed_at_least 2 || fail "the backlog did not start"
# A publisher service that keeps one connection and sends a request at a
# time, then the CLI (a connection per CAB).
cp "$BIN/load_client" "$T/ubin/load_client"
setpriv --reuid=daemon --regid=daemon --clear-groups "$T/ubin/load_client" "$T/signerd.sock" 1 3 1 \
	>lone.txt 2>&1 || { cat lone.txt; fail "the lone client's requests failed"; }
for i in 1 2; do
	setpriv --reuid=daemon --regid=daemon --clear-groups "$USIGNER" sign-cab \
		-o "$T/pub/lone$i.cab" "$T/pub/a.cab" || fail "the lone client's request $i failed"
done
done_then=$(signatures)
kill -0 "$load" 2>/dev/null || fail "the backlog was gone before the lone client finished"
ctl
wait "$load" || { cat load.txt; fail "the backlog's requests failed"; }
verify_cab "$T/pub/lone2.cab" "$T/k.pem"
# The backlog is 128 signatures; five held replies would take until its end.
[ "$done_then" -le 64 ] ||
	fail "the lone client's 5 replies took until $done_then of 133 signatures were made"
echo "ok   5 one-at-a-time requests answered after $done_then of 133 signatures, not held for the batch"
mv -f signerd-audit.yaml signerd.yaml

note "limits.max_connections_per_uid: one uid cannot take every connection"
daemon_stop_checked
sed -i "s|  request_timeout: 60s|  request_timeout: 60s\n  max_connections_per_uid: 3|" signerd.yaml
daemon_start
# Three idle connections of uid 0, held until the fifo is written to.
mkfifo hold
python3 - "$T/signerd.sock" hold >held.txt <<'PY' &
import socket, sys
conns = []
for _ in range(3):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    conns.append(s)
print("held", flush=True)
open(sys.argv[2]).read()
PY
holder=$!
for i in $(seq 1 100); do
	qgrep held held.txt && break
	sleep 0.05
done
qgrep held held.txt || fail "the idle connections were not opened"
sleep 0.2 # let the loop accept them
expect_fail 1 "$BIN/signer" status
qgrep "BUSY" "$T/err" || fail "a fourth connection of uid 0: want BUSY, got: $(cat "$T/err")"
qgrep "max_connections_per_uid" "$T/err" || fail "the refusal does not name the limit: $(cat "$T/err")"
setpriv --reuid=daemon --regid=daemon --clear-groups "$USIGNER" status >/dev/null ||
	fail "uid $duid was refused while uid 0 was at its limit"
echo hold >hold
wait "$holder"
"$BIN/signer" status >/dev/null || fail "uid 0 not served after its idle connections closed"
echo "ok   uid 0 at its 3 connections gets BUSY; uid $duid is still served; freed again after"
daemon_stop_checked
echo "test_fairness: all passed"
