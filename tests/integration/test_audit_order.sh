#!/usr/bin/env bash
# Audit before reply, under pipelined load, where a worker with more requests
# queued leaves its record's fdatasync to the audit log's writer thread and
# the event loop holds the reply. libsyncwatch.so (preloaded into signerd)
# slows every fdatasync of the log down and publishes the durable size after
# it; audit_order_client checks each SIGNATURE against that size. Then the
# fdatasync starts failing under load: replies are refused, none arrives
# early, and signing stays refused until SIGHUP reopens the log.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init
cd "$T"
SHIM=$(cd "$BIN/../lib" 2>/dev/null && pwd)/libsyncwatch.so
[ -e "$SHIM" ] || skip "libsyncwatch.so not built"
make_key k rsa:2048
mkdir -p audit
write_config "  - name: k
    uri: \"pkcs11:token=signerd-test;object=k\"
    default: true" "audit:
  path: $T/audit/audit.log"
export SYNCWATCH_LOG=$T/audit/audit.log SYNCWATCH_OUT=$T/synced SYNCWATCH_FAIL=$T/fail
export SYNCWATCH_DELAY_US=3000
# The preloaded library comes before the sanitizer runtime (ASan builds): that is intended.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
DAEMON_WRAPPER="env LD_PRELOAD=$SHIM ${DAEMON_WRAPPER:-}"
daemon_start
echo hi >a.txt && gcab -c -n a.cab a.txt
records() { grep -c '"type":"sign"' audit/audit.log || true; }

note "pipelined load: every SIGNATURE arrives after its record's fdatasync"
"$BIN/audit_order_client" "$T/signerd.sock" "$T/audit/audit.log" "$T/synced" 4 100 16 \
	>order.txt 2>&1 || { cat order.txt; fail "a reply overtook its audit record, or a request failed"; }
cat order.txt
qgrep -x "signatures, each with its record durable first: 400" order.txt || fail "want 400 signatures"
[ -s synced ] || fail "the shim saw no fdatasync of the audit log"
echo "ok   400 pipelined signatures, none before its record was durable"

note "the audit log fails under load: refused from then on, nothing early"
"$BIN/audit_order_client" --allow-audit-errors "$T/signerd.sock" "$T/audit/audit.log" \
	"$T/synced" 4 400 16 >fail.txt 2>&1 &
client=$!
base=$(records)
for _ in $(seq 1 600); do
	[ "$(records)" -lt $((base + 100)) ] || break
	sleep 0.05
done
touch fail
rc=0
wait "$client" || rc=$?
cat fail.txt
[ "$rc" = 0 ] || fail "a reply overtook its record, or an answer was neither a signature nor AUDIT_UNAVAILABLE"
qgrep -E "^refused with AUDIT_UNAVAILABLE: [1-9]" fail.txt || fail "the failing log refused nothing"
echo "ok   signatures before the failure were durable first; the rest refused ($(grep -c 'is withheld' signerd.log || true) withheld after signing)"
expect_fail 1 "$BIN/signer" sign-cab -o refused.cab a.cab
grep -q AUDIT_UNAVAILABLE "$T/err" || fail "want AUDIT_UNAVAILABLE, got: $(cat "$T/err")"
[ ! -e refused.cab ] || fail "signed while the audit log is failed"

note "SIGHUP reopens the log; signing resumes and the chain verifies"
rm -f fail
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do
	"$BIN/signer" sign-cab -o resumed.cab a.cab 2>/dev/null && break
	sleep 0.1
done
[ -e resumed.cab ] || fail "signing did not resume after the reopen"
verify_cab resumed.cab k.pem
daemon_stop_checked
"$BIN/signer" audit verify audit/audit.log >verify.txt || { cat verify.txt; fail "the log does not verify"; }
echo "ok   reopened; the log verifies across the failure"
echo "test_audit_order: all passed"
