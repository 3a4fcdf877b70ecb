#!/usr/bin/env bash
# RFC 3161 timestamps added by the daemon: a test TSA on 127.0.0.1 (tsa.py in
# front of `openssl ts -reply`), failover from a TSA that is down to one that
# is up, all TSAs down under required and optional, replies with a wrong
# nonce, a wrong imprint, a rejection status, garbage, HTTP errors and a
# timeout, retries, timestamp.ca trust, the per-key override, the audit
# record, and `osslsigncode verify -TSA-CAfile` on every timestamped CAB.
BIN=$1
. "$(dirname "$0")/lib.sh"
need python3
fixture_init
cd "$T"
make_key wsus rsa:2048
echo "timestamp me" >a.txt && gcab -c -n a.cab a.txt

. "$HERE/tsa_fixture.sh"
tsa_start
EXTRA_CLEANUP=tsa_stop
# A port nobody listens on: the TSA that is down (connection refused).
DOWN="http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')/"

# -v: with the audit log on, the per-signature line (naming the TSA) is a debug line.
export DAEMON_ARGS=-v
KEY='  - name: wsus
    uri: "pkcs11:token=signerd-test;object=wsus"
    default: true
    sign: [ cab, script ]'
# restart POLICY "URL, URL" [EXTRA timestamp lines] [KEY lines]
restart() {
	daemon_stop_checked
	write_config "${4:-$KEY}" "timestamp:
  urls: [ $2 ]
  policy: $1
  timeout: 2s
  retries: ${RETRIES:-0}
${3:-  ca: $T/tsa/ca.pem}
audit:
  path: $T/audit.log"
	: >"$T/tsa.log"
	: >"$T/tsa.log.times"
	daemon_start
}
tried() { tr '\n' ' ' <"$T/tsa.log"; }
# ts_verify CAB: osslsigncode accepts it with the TSA's root, and it carries a timestamp
ts_verify() {
	verify_cab "$1" "$T/wsus.pem"
	osslsigncode verify -CAfile "$T/wsus.pem" -TSA-CAfile "$T/tsa/ca.pem" -in "$1" >"$T/v.out" 2>&1 ||
		{ cat "$T/v.out" >&2; fail "osslsigncode -TSA-CAfile rejected $1"; }
	qgrep 'Timestamp Server Signature verification: ok' "$T/v.out" ||
		{ cat "$T/v.out" >&2; fail "$1: osslsigncode saw no good timestamp"; }
	rm -f "$T/ts.der"
	osslsigncode extract-signature -in "$1" -out "$T/ts.der" >/dev/null 2>&1 || fail "cannot extract the signature of $1"
	openssl asn1parse -inform DER -in "$T/ts.der" | qgrep ':1\.3\.6\.1\.4\.1\.311\.3\.3\.1$' ||
		fail "$1: no unsigned attribute 1.3.6.1.4.1.311.3.3.1"
}
no_timestamp() {
	verify_cab "$1" "$T/wsus.pem"
	rm -f "$T/ts.der"
	osslsigncode extract-signature -in "$1" -out "$T/ts.der" >/dev/null 2>&1 || fail "cannot extract the signature of $1"
	! openssl asn1parse -inform DER -in "$T/ts.der" | qgrep ':1\.3\.6\.1\.4\.1\.311\.3\.3\.1$' ||
		fail "$1 carries a timestamp"
}
refused() { # OUTFILE MESSAGE-REGEX...
	local out=$1
	shift
	expect_fail 1 "$BIN/signer" sign-cab -o "$out" a.cab
	local re
	for re in "$@"; do
		qgrep -E "$re" "$T/err" || fail "want /$re/ in: $(cat "$T/err")"
	done
	qgrep TIMESTAMP_FAILED "$T/err" || fail "not TIMESTAMP_FAILED: $(cat "$T/err")"
	[ ! -e "$out" ] || fail "an output was written for a refused signature"
	echo "ok   refused: $(cat "$T/err")"
}
last_audit() { tail -n 1 "$T/audit.log"; }

write_config "$KEY"
daemon_start

note "first TSA down, second up (required): timestamped by the second"
restart required "\"$DOWN\", \"$TSA/good\""
"$BIN/signer" sign-cab -o t1.cab a.cab
ts_verify t1.cab
[ "$(tried)" = "/good " ] || fail "TSA requests: $(tried)"
last_audit | qgrep "\"tsa\":\"$TSA/good\",\"ts_time\":\"20[0-9-]*T[0-9:]*Z\"" ||
	fail "audit record lacks the TSA and genTime: $(last_audit)"
qgrep "timestamped by $TSA/good at " "$T/signerd.log" || fail "no log line names the TSA"
"$BIN/signer" verify-cab --ca "$T/wsus.pem" --tsa-ca "$T/tsa/ca.pem" t1.cab >v1.out ||
	{ cat v1.out >&2; fail "signer verify-cab rejected t1.cab"; }
qgrep -E '^timestamp: ok \(20[0-9-]+T[0-9:]+Z, TSA certificate trusted by --tsa-ca\)' v1.out ||
	fail "verify-cab: $(cat v1.out)"
qgrep "at the timestamp's time" v1.out || fail "verify-cab did not check the chain at genTime"
"$BIN/signer" verify-cab t1.cab | qgrep 'TSA certificate not checked (no --tsa-ca)' ||
	fail "verify-cab without --tsa-ca"
expect_fail 1 "$BIN/signer" verify-cab --tsa-ca "$T/tsa/other.pem" t1.cab
qgrep '^timestamp: FAILED: .*does not verify' "$T/out" || fail "verify-cab accepted a foreign TSA: $(cat "$T/out")"
"$BIN/signer" sign-cab --in-place t1.cab && ts_verify t1.cab # re-signing gets a fresh token

note "a PowerShell script is timestamped the same way"
printf 'Write-Output "timestamped"\r\n' >s.ps1
"$BIN/signer" sign-script -o s-signed.ps1 s.ps1
osslsigncode verify -CAfile "$T/wsus.pem" -TSA-CAfile "$T/tsa/ca.pem" -in s-signed.ps1 >"$T/v.out" 2>&1 ||
	{ cat "$T/v.out" >&2; fail "osslsigncode rejected the timestamped script"; }
qgrep 'Timestamp Server Signature verification: ok' "$T/v.out" ||
	{ cat "$T/v.out" >&2; fail "the script carries no good timestamp"; }
"$BIN/signer" verify-script --ca "$T/wsus.pem" --tsa-ca "$T/tsa/ca.pem" s-signed.ps1 >v2.out ||
	{ cat v2.out >&2; fail "signer verify-script rejected the timestamped script"; }
qgrep '^timestamp: ok' v2.out || fail "verify-script: $(cat v2.out)"
last_audit | qgrep '"subject":"script".*"tsa":"' || fail "script record: $(last_audit)"

note "every digest and timestamp.hash"
for h in sha384 sha512; do
	restart required "\"$TSA/good\"" "  ca: $T/tsa/ca.pem
  hash: $h"
	"$BIN/signer" sign-cab --digest sha512 -o "t-$h.cab" a.cab
	ts_verify "t-$h.cab"
	# The TSA was asked for this hash of the signature.
	openssl ts -query -in "$T/tsa.log.last.tsq" -text >q.txt 2>&1
	qgrep "Hash Algorithm: $h" q.txt || { cat q.txt >&2; fail "the request's imprint is not $h"; }
done

note "all TSAs down, required: TIMESTAMP_FAILED naming each TSA"
restart required "\"$DOWN\", \"$TSA/http500\""
refused r1.cab "TSA $DOWN: .*(refused|connect)" "TSA $TSA/http500: HTTP status 500"
last_audit | qgrep '"result":"refused","code":13,"error":"TIMESTAMP_FAILED"' ||
	fail "the refusal was not audited: $(last_audit)"

note "all TSAs down, optional: the signature without a timestamp, and a warning"
restart optional "\"$DOWN\", \"$TSA/garbage\""
"$BIN/signer" sign-cab -o o1.cab a.cab
no_timestamp o1.cab
"$BIN/signer" verify-cab o1.cab | qgrep '^timestamp: none' || fail "verify-cab on an untimestamped CAB"
qgrep 'WITHOUT a timestamp (policy optional).*not a TimeStampResp' "$T/signerd.log" ||
	fail "no warning for the missing timestamp"
last_audit | qgrep -v '"tsa"' || fail "an untimestamped record names a TSA"

note "wrong nonce and wrong imprint are rejected"
restart required "\"$TSA/bad-nonce\""
refused r2.cab "nonce is not the request's"
restart required "\"$TSA/bad-imprint\""
refused r3.cab "messageImprint does not match"
note "a bad reply fails over to the next TSA"
restart required "\"$TSA/bad-nonce\", \"$TSA/bad-imprint\", \"$TSA/good\""
"$BIN/signer" sign-cab -o t2.cab a.cab
ts_verify t2.cab
[ "$(tried)" = "/bad-nonce /bad-imprint /good " ] || fail "TSA requests: $(tried)"

note "a rejection status, a timeout"
restart required "\"$TSA/reject\""
refused r4.cab "status rejection \(badAlg\)"
restart required "\"$TSA/slow\""
refused r5.cab "TSA $TSA/slow: .*(timed out|Timeout)"

note "slow TSAs hold spare workers, not every worker"
# Two sessions: three requests wait for a TSA that never answers in time,
# while a key with timestamp: off still signs at once.
restart required "\"$TSA/slow\"" "  ca: $T/tsa/ca.pem" "$KEY
  - name: plain
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    timestamp: off"
qgrep "signing workers for 2 token sessions (spares wait for TSAs)" "$T/signerd.log" ||
	fail "no spare workers for the TSAs: $(grep -m1 'signing workers' "$T/signerd.log")"
slow=()
for i in 1 2 3; do
	"$BIN/signer" sign-cab -o "s$i.cab" a.cab >"slow$i.txt" 2>&1 &
	slow+=($!)
done
sleep 0.3
"$BIN/signer" sign-cab --key plain -o plain.cab a.cab || fail "the untimestamped key did not sign"
for p in "${slow[@]}"; do
	kill -0 "$p" 2>/dev/null || fail "a slow-TSA request ended before the other key's signature"
done
verify_cab plain.cab "$T/wsus.pem"
for p in "${slow[@]}"; do ! wait "$p" || fail "a request with a TSA that timed out succeeded"; done
echo "ok   signed with another key while 3 requests waited for a slow TSA"

note "retries: a second round over the TSAs, with backoff"
RETRIES=1 restart required "\"$TSA/flaky\""
"$BIN/signer" sign-cab -o t3.cab a.cab
ts_verify t3.cab
[ "$(tried)" = "/flaky /flaky " ] || fail "TSA requests: $(tried)"
restart required "\"$TSA/flaky\"" # no retries: the first (failing) answer is final
refused r6.cab "TSA $TSA/flaky: HTTP status 503" "after 1 attempt:"
# Three rounds that all fail: at least 250 ms, then at least 500 ms between them.
RETRIES=2 restart required "\"$TSA/http500\""
refused r6b.cab "TSA $TSA/http500: HTTP status 500" "after 3 attempts:"
[ "$(tried)" = "/http500 /http500 /http500 " ] || fail "TSA requests: $(tried)"
gaps=$(awk 'NR > 1 { printf "%d ", ($1 - prev) * 1000 } { prev = $1 }' "$T/tsa.log.times")
read -r g1 g2 <<<"$gaps"
[ "${g1:-0}" -ge 250 ] && [ "${g2:-0}" -ge 500 ] ||
	fail "backoff between rounds: ${gaps}ms, want >= 250 then >= 500"
echo "ok   backoff between rounds: ${gaps}ms"

note "timestamp.ca: a TSA certificate from another root is refused"
restart required "\"$TSA/good\"" "  ca: $T/tsa/other.pem"
refused r7.cab "does not verify against timestamp.ca"
note "without timestamp.ca: accepted, with a warning that trust was not checked"
restart required "\"$TSA/good\"" " "
"$BIN/signer" sign-cab -o t4.cab a.cab
ts_verify t4.cab
qgrep "WITHOUT checking the TSA's certificate" "$T/signerd.log" || fail "no trust warning"

note "per-key override: keys[].timestamp: off under a required policy"
restart required "\"$DOWN\"" "  ca: $T/tsa/ca.pem" "$KEY
    timestamp: off"
"$BIN/signer" sign-cab -o o2.cab a.cab
no_timestamp o2.cab
[ "$(tried)" = "" ] || fail "a key with timestamp: off asked a TSA: $(tried)"

note "bad timestamp settings stop the start"
daemon_stop_checked
write_config "$KEY" "timestamp:
  urls: [ \"$TSA/good\" ]
  policy: required
  ca: $T/nonexistent.pem"
expect_fail 1 "$BIN/signerd" --check -c "$T/signerd.yaml"
qgrep "timestamp.ca $T/nonexistent.pem" "$T/out" "$T/err" || fail "unclear error: $(cat "$T/err")"
write_config "$KEY
    timestamp: required"
expect_fail 1 "$BIN/signerd" --check -c "$T/signerd.yaml"
qgrep 'keys\[0\].timestamp: required needs at least one URL in timestamp.urls' "$T/out" "$T/err" ||
	fail "unclear error: $(cat "$T/out" "$T/err")"

note "the audit log still verifies"
"$BIN/signer" audit verify "$T/audit.log" >/dev/null || fail "signer audit verify rejected the log"
echo "PASS"
