#!/usr/bin/env bash
# The daemon's audit trail: one durable record per signed or refused request,
# token-signed checkpoints, rotation on SIGHUP, tamper detection, refusal to
# sign when the log cannot be written, and no PIN in any log or error.
BIN=$1
export TEST_PIN=Zq8pinSecret4417 # distinctive: must appear nowhere but the PIN file
. "$(dirname "$0")/lib.sh"
fixture_init
cd "$T"
make_key wsus rsa:2048
make_key cp rsa:2048
mkdir -p audit
write_config "  - name: wsus
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    default: true
  - name: cp
    uri: \"pkcs11:token=signerd-test;object=cp\"
    state: retired" "audit:
  path: $T/audit/audit.log
  checkpoint_every: 5
  checkpoint_key: cp"
daemon_start
echo hi >a.txt && gcab -c -n a.cab a.txt
digest=$("$BIN/signer" digest-cab a.cab)

note "records for signed and refused requests"
for i in $(seq 1 12); do "$BIN/signer" sign-cab --program "KB$i" -o "s$i.cab" a.cab; done
expect_fail 1 "$BIN/signer" sign-cab --key cp -o x.cab a.cab
expect_fail 1 "$BIN/signer" sign-cab --digest sha1 -o x.cab a.cab
daemon_stop_checked
! grep -q "signed cab" signerd.log || fail "a per-signature info line although the audit log records it"
"$BIN/signer" audit verify --cert cp.pem audit/audit.log >verify.txt || { cat verify.txt; fail "verify"; }
cat verify.txt
grep -c '"type":"sign"' audit/audit.log | qgrep -x 14 || fail "expected 14 request records"
grep -c '"type":"checkpoint"' audit/audit.log | qgrep '^[3-9]' || fail "expected checkpoints"
tail -n 1 audit/audit.log | qgrep '"type":"checkpoint"' || fail "no final checkpoint at shutdown"
rec=$(grep -m1 '"type":"sign"' audit/audit.log)
for want in "\"uid\":0" "\"key\":\"wsus\"" "\"digest_alg\":\"sha256\"" "\"digest\":\"$digest\"" \
	"\"program\":\"KB1\"" "\"exe_verified\":true" "$(openssl x509 -in wsus.pem -noout -fingerprint -sha1 | cut -d= -f2 | tr -d : | tr A-F a-f)"; do
	grep -qF "$want" <<<"$rec" || fail "record lacks $want: $rec"
done
grep -F '"digest_alg":"sha1"' audit/audit.log | qgrep 'UNSUPPORTED_DIGEST' ||
	fail "refused request not recorded with its code"
grep -F '"key":"cp"' audit/audit.log | qgrep 'KEY_RETIRED' || fail "retired key refusal not recorded"
echo "ok   14 records (12 signed, 2 refused) with peer, key, certificate, digest and result"

note "incident question: what did wsus sign?"
"$BIN/signer" audit search --digest "$digest" audit/audit.log >search.txt
[ "$(grep -c . search.txt)" -ge 12 ] || { cat search.txt; fail "search by digest"; }
"$BIN/signer" audit search --key wsus --since 2000-01-01 --result signed audit/audit.log | grep -c . |
	grep -qx 12 || fail "search by key and time"

note "tampering is detected"
cp audit/audit.log t.log
sed -i '3s/"uid":0/"uid":1/' t.log
expect_fail 1 "$BIN/signer" audit verify --cert cp.pem t.log
grep -q "line 3" "$T/err" "$T/out" || fail "the tampered line is not named: $(cat "$T/out" "$T/err")"

note "rotation on SIGHUP continues the chain"
daemon_start
"$BIN/signer" sign-cab -o r1.cab a.cab
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do ls audit/audit.log.* >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN/signer" sign-cab -o r2.cab a.cab
daemon_stop_checked
rotated=$(ls audit/audit.log.* | sed -n 1p) # sed reads all: no SIGPIPE under pipefail
[ -n "$rotated" ] || fail "no rotated file"
"$BIN/signer" audit verify --cert cp.pem $(ls audit/audit.log.* | sort) audit/audit.log >v2.txt ||
	{ cat v2.txt; fail "the rotated set does not verify"; }
echo "ok   rotated files verify as one chain"

note "a log that cannot be written stops signing"
if mkdir -p full && mount -t tmpfs -o size=64k tmpfs full 2>/dev/null; then
	sed -i "s|  path: $T/audit/audit.log|  path: $T/full/audit.log|" signerd.yaml
	daemon_start
	head -c 60000 /dev/zero >full/filler 2>/dev/null || true
	n=0
	while "$BIN/signer" sign-cab -o full.cab a.cab >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 500 ] || break
	done
	expect_fail 1 "$BIN/signer" sign-cab -o full2.cab a.cab
	grep -q AUDIT_UNAVAILABLE "$T/err" || fail "want AUDIT_UNAVAILABLE, got: $(cat "$T/err")"
	[ ! -e full2.cab ] || fail "a signature left without its record"
	echo "ok   full disk: signing refused with AUDIT_UNAVAILABLE after $n signatures"
	daemon_stop || true
	umount full
else
	echo "skip full-disk case (cannot mount a tmpfs here)"
fi

note "the PIN appears in no log, record or error"
(umask 077 && printf 'WrongPin%s\n' "$TEST_PIN" >badpin)
sed -i "s|  pin_file: .*|  pin_file: $T/badpin|" signerd.yaml
"$BIN/signerd" -f -c signerd.yaml >badpin.out 2>&1 || true
grep -q CKR_PIN_INCORRECT badpin.out || { cat badpin.out; fail "wrong PIN not reported"; }
if grep -rl -- "$TEST_PIN" . --exclude=pin --exclude=badpin --exclude-dir=tokens 2>/dev/null; then
	fail "the PIN leaked into the files above"
fi
echo "ok   the PIN is in no log, audit record or error output"
echo "test_audit: all passed"
