#!/usr/bin/env bash
# Write-ahead audit records: a signature without a timestamp is recorded, and
# the record made durable, before the token signs (so the fdatasync overlaps
# C_Sign). Shown with the p11shim module: while C_Sign hangs, the record is
# already in the file. A token failure after the record appends a "void"
# record that withdraws it, with the error the client got; the log verifies.
BIN=$1
. "$(dirname "$0")/lib.sh"
SHIM=$(cd "$BIN/../lib" 2>/dev/null && pwd)/libp11shim.so
[ -e "$SHIM" ] || skip "libp11shim.so not built"
fixture_init
cd "$T"
make_key k rsa:2048
make_key cp rsa:2048
export P11SHIM_MODULE=$SOFTHSM_MODULE P11SHIM_CONTROL=$T/shim.ctl
ctl() { printf '%s\n' "$@" >"$T/shim.ctl.tmp" && mv -f "$T/shim.ctl.tmp" "$T/shim.ctl"; }
ctl
write_config "  - name: k
    uri: \"pkcs11:token=signerd-test;object=k\"
    default: true
  - name: cp
    uri: \"pkcs11:token=signerd-test;object=cp\"
    state: retired" "audit:
  path: $T/audit.log
  checkpoint_key: cp
limits:
  request_timeout: 30s"
sed -i "s|  module: .*|  module: $SHIM\n  allowed_modules: [ $(dirname "$SHIM")/ ]|" signerd.yaml
EXTRA_CLEANUP=ctl # never leave a hang in place at teardown
daemon_start
echo one >a.txt && gcab -c -n a.cab a.txt
echo two >b.txt && gcab -c -n b.cab b.txt
da=$("$BIN/signer" digest-cab a.cab)
db=$("$BIN/signer" digest-cab b.cab)
# records LOG DIGEST: the request records (sign and void) for DIGEST
records() { grep -F "\"digest\":\"$2\"" "$1" || true; }

note "the record is durable while the token is still signing"
ctl "C_Sign hang"
"$BIN/signer" sign-cab -o a.signed.cab a.cab >hang.txt 2>&1 &
client=$!
seen=
for i in $(seq 1 100); do
	if [ -n "$(records audit.log "$da")" ]; then
		seen=1
		break
	fi
	sleep 0.05
done
kill -0 "$client" 2>/dev/null || { cat hang.txt; fail "the request finished while C_Sign should hang"; }
[ -n "$seen" ] || fail "no record of the digest while C_Sign hangs: not written ahead"
records audit.log "$da" | qgrep '"type":"sign".*"result":"signed"' ||
	fail "the record written ahead is not a signed sign record: $(records audit.log "$da")"
ctl
wait "$client" || { cat hang.txt; fail "the request failed after the token answered"; }
verify_cab a.signed.cab k.pem
[ "$(records audit.log "$da" | grep -c .)" = 1 ] ||
	fail "want exactly one record for the signature: $(records audit.log "$da")"
echo "ok   the record was on disk before C_Sign returned; one record per signature"

note "a token failure after the record: a void record withdraws it"
ctl "C_Sign CKR_FUNCTION_FAILED count=1"
expect_fail 1 "$BIN/signer" sign-cab -o b.signed.cab b.cab
[ ! -e b.signed.cab ] || fail "an output was written for a failed signature"
ctl
recs=$(records audit.log "$db")
[ "$(grep -c . <<<"$recs")" = 2 ] || fail "want a sign and a void record for the digest: $recs"
first=$(sed -n 1p <<<"$recs")
second=$(sed -n 2p <<<"$recs")
qgrep '"type":"sign".*"result":"signed"' <<<"$first" || fail "first record: $first"
seq=$(sed 's/^{"seq":\([0-9]*\),.*/\1/' <<<"$first")
qgrep "\"type\":\"void\".*\"result\":\"refused\".*,\"voids\":$seq}\$" <<<"$second" ||
	fail "second record does not void seq $seq: $second"
code=$(sed 's/.*"error":"\([A-Z_]*\)".*/\1/' <<<"$second")
qgrep -F "$code" "$T/err" || fail "the void record's error $code is not what the client got: $(cat "$T/err")"
echo "ok   record $seq voided with $code, the error the client got"

note "signing works again, and the log verifies"
"$BIN/signer" sign-cab -o b.signed.cab b.cab && verify_cab b.signed.cab k.pem
daemon_stop_checked
"$BIN/signer" audit verify --cert cp.pem audit.log >verify.txt || { cat verify.txt; fail "verify"; }
"$BIN/signer" audit search --digest "$db" audit.log >search.txt
qgrep " refused void voids=$seq error=$code " search.txt || { cat search.txt; fail "search does not show the void"; }
[ "$(grep -c ' signed ' search.txt)" = 2 ] || { cat search.txt; fail "search: want two signed records"; }
echo "ok   audit verify passes; search shows the void"

note "a record lost with a failed log is never voided in the reopened one"
# The ahead record's fdatasync fails (syncwatch), SIGHUP reopens the log,
# which hands that seq out again to another signature; then the token fails.
# A void naming the seq would withdraw the other, genuine signature.
WATCH=$(cd "$BIN/../lib" && pwd)/libsyncwatch.so
[ -e "$WATCH" ] || skip "libsyncwatch.so not built"
export SYNCWATCH_LOG=$T/audit.log SYNCWATCH_OUT=$T/synced SYNCWATCH_FAIL=$T/syncfail
# Preloading the shim ahead of an ASan build's runtime (as test_audit_order does).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
DAEMON_WRAPPER="env LD_PRELOAD=$WATCH ${DAEMON_WRAPPER:-}" daemon_start
echo three >c.txt && gcab -c -n c.cab c.txt
dc=$("$BIN/signer" digest-cab c.cab)
ctl "C_Sign CKR_FUNCTION_FAILED delay_ms=4000 count=1"
touch syncfail
"$BIN/signer" sign-cab -o c.signed.cab c.cab >lost.txt 2>&1 &
client=$!
sleep 1 # the record is committed at once (kicked) and its fdatasync fails; C_Sign waits 4 s
rm -f syncfail
kill -HUP "$DAEMON_PID"
for i in $(seq 1 100); do
	"$BIN/signer" sign-cab -o a.again.cab a.cab >/dev/null 2>&1 && break
	sleep 0.1
done
verify_cab a.again.cab k.pem
! wait "$client" || fail "the request whose C_Sign failed succeeded"
ctl
daemon_stop_checked
qgrep "audit log unavailable; reopening it" signerd.log || fail "the audit log did not fail as arranged"
qgrep "nothing to void" signerd.log || fail "no log line about the record that could not be voided"
[ -z "$(records audit.log "$dc")" ] || fail "records of the lost request: $(records audit.log "$dc")"
[ "$(grep -c '"type":"void"' audit.log)" = 1 ] || fail "want only the earlier void: $(grep '"type":"void"' audit.log)"
"$BIN/signer" audit verify --cert cp.pem audit.log >verify2.txt || { cat verify2.txt; fail "verify after the reopen"; }
daemon_start # the log opens again: it ends cleanly
daemon_stop_checked
echo "ok   the lost record's seq went to another signature, and no void withdrew it"

note "a rotation on a slow disk does not stall the loop"
# Every fdatasync takes 1.5 s; SIGHUP rotates (drain, checkpoint, new file)
# while pipelined replies are held for their records. The loop must not
# wait for the rotation to look at them: STATUS is answered meanwhile.
export SYNCWATCH_DELAY_US=1500000
DAEMON_WRAPPER="env LD_PRELOAD=$WATCH ${DAEMON_WRAPPER:-}" daemon_start
"$BIN/load_client" "$T/signerd.sock" 1 40 8 >slowload.txt 2>&1 &
load=$!
sleep 0.5
kill -HUP "$DAEMON_PID"
sleep 0.3
for i in 1 2 3 4 5; do
	timeout 1 "$BIN/signer" status >/dev/null || fail "STATUS not answered within 1 s during the rotation ($i)"
	sleep 0.2
done
wait "$load" || { cat slowload.txt; fail "the pipelined requests failed"; }
# The rotation's own fdatasyncs (1.5 s each) may outlast the load.
until_ok 400 qgrep "audit log rotated" signerd.log || fail "no rotation happened"
daemon_stop_checked
unset SYNCWATCH_DELAY_US
"$BIN/signer" audit verify --cert cp.pem $(ls audit.log.* | sort) audit.log >verify3.txt ||
	{ cat verify3.txt; fail "verify after the rotation"; }
echo "ok   STATUS answered while a rotation waited on a slow disk with replies held"
echo "test_audit_ahead: all passed"
