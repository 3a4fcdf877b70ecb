#!/usr/bin/env bash
# Load and soak: 32 concurrent pipelining clients x 200 signatures with zero
# errors, audit on, and the daemon's RSS stable within 10% between the first
# and the last thousand signatures.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init
cd "$T"
make_key k rsa:2048
mkdir -p audit
write_config "  - name: k
    uri: \"pkcs11:token=signerd-test;object=k\"" "audit:
  path: $T/audit/audit.log"
daemon_start
"$BIN/load_client" "$T/signerd.sock" 32 200 8 "$DAEMON_PID" >load.txt 2>&1 ||
	{ cat load.txt; fail "errors under load"; }
cat load.txt
grep -qx "requests ok: 6400" load.txt || fail "not every request succeeded"
first=$(sed -n 's/^rss_first_kib: //p' load.txt)
last=$(sed -n 's/^rss_last_kib: //p' load.txt)
[ "${first:-0}" -gt 0 ] && [ "${last:-0}" -gt 0 ] || fail "RSS not measured"
if nm -D "$BIN/signerd" 2>/dev/null | qgrep __asan_init; then
	# ASan's quarantine holds freed memory on purpose: RSS says nothing there.
	echo "note: AddressSanitizer build, RSS stability not assessed (first $first KiB, last $last KiB)"
else
	[ $((last * 100)) -le $((first * 110)) ] ||
		fail "RSS grew from $first KiB to $last KiB (more than 10%)"
	echo "ok   RSS $first KiB after the first 1000 signatures, $last KiB after 6400"
fi
daemon_stop_checked
"$BIN/signer" audit verify audit/audit.log >verify.txt || { cat verify.txt; fail "audit log"; }
qgrep "6400 requests" verify.txt || { cat verify.txt; fail "the audit log does not hold 6400 requests"; }
echo "ok   6400 audit records, chain verified"
echo "test_soak: all passed"
