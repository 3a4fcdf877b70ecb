#!/usr/bin/env bash
# signer audit verify|search on logs written by the daemon's library
# (audit_writer): tampering, deletion, reordering and truncation are named,
# checkpoints verify with plain openssl (the format in docs/AUDIT.md is
# enough for an independent verifier), rotation chains files, and search
# answers "which CABs did key K sign after T?".
# Usage: test_audit_tool.sh BIN_DIR (holding signer and audit_writer).
set -euo pipefail
BIN=$1

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "== $*"; }
qgrep() { grep -c "$@" >/dev/null; } # grep -q that reads all input (no SIGPIPE under pipefail)
command -v openssl >/dev/null || skip "openssl is not installed"
[ -x "$BIN/audit_writer" ] && [ -x "$BIN/signer" ] || fail "audit_writer or signer missing in $BIN"

T=$(mktemp -d /tmp/signerd-audit.XXXXXX)
trap '[ -n "${KEEP_TEST_DIR:-}" ] || rm -rf "$T"' EXIT
cd "$T"
SIGNER=$BIN/signer
W=$BIN/audit_writer

# Run a command that must exit with status $1; output in $T/out and $T/err.
expect_rc() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "expected exit $want, got $rc: $*"; }
}
has() { grep -qF -- "$1" "$2" || { cat "$T/out" "$T/err" >&2; fail "no \"$1\" in $2"; }; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key \
	-out ec.pem -subj "/CN=audit checkpoint EC" -days 30 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem \
	-subj "/CN=audit checkpoint RSA" -days 30 2>/dev/null

note "a clean log verifies; trust is pinned only with --cert"
# r1..r5 cp6 r7..r11 cp12 r13..r17 cp18 r19..r23 cp24 (seq = line number)
"$W" a.log ec.key ec.pem 20 --every 5 --key-name wsus-a --refuse-every 7
[ "$(wc -l <a.log)" = 24 ] || fail "expected 24 lines, got $(wc -l <a.log)"
expect_rc 0 "$SIGNER" audit verify a.log
has "records: 24 (20 requests, 4 checkpoints, 0 rotations)" out
has "trust not pinned" out
has "last checkpoint: seq 24" out
has "unprotected: none" out
has "OK" out
expect_rc 0 "$SIGNER" audit verify --cert ec.pem a.log
has "trust: pinned to ec.pem" out
expect_rc 1 "$SIGNER" audit verify --cert rsa.pem a.log
has "a.log: line 6: the checkpoint is signed by a certificate that is not the pinned one" err

note "the format is enough for an independent check (sha256sum, openssl dgst)"
prev2=$(sed -n 2p a.log | sed 's/.*"prev":"\([0-9a-f]*\)".*/\1/')
[ "$prev2" = "$(sed -n 1p a.log | tr -d '\n' | sha256sum | cut -d' ' -f1)" ] ||
	fail "line 2's prev is not the SHA-256 of line 1"
check_cp() { # FILE LINE: verify the checkpoint with openssl alone
	local line
	line=$(sed -n "$2p" "$1")
	printf '%s' "${line%%,\"sig\":\"*}" >prefix.bin
	printf '%s' "$line" | sed 's/.*,"sig":"\([^"]*\)"}$/\1/' | openssl base64 -d -A >sig.der
	printf '%s' "$line" | sed 's/.*,"cert":"\([^"]*\)".*/\1/' | openssl base64 -d -A >cert.der
	openssl x509 -inform DER -in cert.der -pubkey -noout >pub.pem
	openssl dgst -sha256 -verify pub.pem -signature sig.der prefix.bin | qgrep "Verified OK" ||
		fail "$1 line $2: openssl does not verify the checkpoint"
}
check_cp a.log 6
check_cp a.log 24
printf 'x' >>prefix.bin
if openssl dgst -sha256 -verify pub.pem -signature sig.der prefix.bin >/dev/null 2>&1; then
	fail "a changed prefix still verifies"
fi

note "tamper, delete, reorder: exit 1 naming the first bad line"
sed '9s/Product 8/Product 9/' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 9: record modified" err
has "FAILED" out
sed '9s/"uid":1001/"uid":0/' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 9: record modified" err
sed '9d' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 9: seq 10, expected 9: record(s) deleted" err
awk 'NR==9{h=$0; next} NR==10{print; print h; next} {print}' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 9: seq 10, expected 9" err
sed '1d' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 1:" err
sed '12s/"key":"wsus-a"/"key":"wsus-b"/' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 12: checkpoint: signature does not verify" err
# The last line is a checkpoint: even it cannot be changed unnoticed.
sed '24s/"time":"\(....\)/"time":"1999/' a.log >t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 24:" err

note "truncation: after the last checkpoint reported, through a checkpoint detected"
"$W" b.log ec.key ec.pem 23 --every 5 --crash # ... cp24 r25 r26 r27, no final checkpoint
[ "$(wc -l <b.log)" = 27 ] || fail "expected 27 lines"
expect_rc 0 "$SIGNER" audit verify --cert ec.pem b.log
has "WARNING: 3 record(s) after the last checkpoint (seq 25..27) are not protected" out
head -n 24 b.log >t.log
expect_rc 0 "$SIGNER" audit verify --cert ec.pem --expect-seq 24 t.log
has "unprotected: none" out
head -n 20 b.log >t.log
expect_rc 0 "$SIGNER" audit verify --cert ec.pem t.log
has "last checkpoint: seq 18" out
expect_rc 1 "$SIGNER" audit verify --cert ec.pem --expect-seq 24 t.log
has "the last checkpoint is at seq 18, but one at seq 24 or later was expected: the log was truncated" err
# A torn last line is refused by verify and by the daemon's library.
cp b.log t.log
printf '{"seq":28,"ti' >>t.log
expect_rc 1 "$SIGNER" audit verify t.log
has "t.log: line 28: incomplete last line" err
expect_rc 1 "$W" t.log ec.key ec.pem 1 --every 5
has "ends with an incomplete record" err
# Reopening the crashed log continues it and checkpoints at once.
"$W" b.log ec.key ec.pem 1 --every 5 --start 24
expect_rc 0 "$SIGNER" audit verify --cert ec.pem --expect-seq 24 b.log
has "records: 29 (24 requests, 5 checkpoints" out
has "unprotected: none" out

note "RSA checkpoint key"
"$W" r.log rsa.key rsa.pem 7 --every 3
expect_rc 0 "$SIGNER" audit verify --cert rsa.pem r.log
check_cp r.log 4

note "rotation: files chain oldest first"
mkdir rot
"$W" rot/audit.log ec.key ec.pem 40 --every 10 --max-size 4096
"$W" rot/audit.log ec.key ec.pem 3 --start 41 --rotate-after 2
mapfile -t files < <(cd rot && LC_ALL=C ls audit.log.* | sed 's|^|rot/|'; echo rot/audit.log)
[ "${#files[@]}" -ge 4 ] || fail "expected at least 4 files, got ${#files[@]}"
expect_rc 0 "$SIGNER" audit verify --cert ec.pem "${files[@]}"
has "43 requests" out
has "$((${#files[@]} - 1)) rotations) in ${#files[@]} file(s)" out
has "unprotected: none" out
head -n 1 rot/audit.log | qgrep '"type":"rotate","prev_file":"audit.log.' || fail "no rotate record"
expect_rc 1 "$SIGNER" audit verify "${files[1]}" "${files[0]}" "${files[@]:2}"
expect_rc 1 "$SIGNER" audit verify "${files[0]}" "${files[@]:2}"
has "${files[2]}: line 1:" err
expect_rc 0 "$SIGNER" audit verify "${files[@]:1}"
has "chain start: seq" out

note "search: which CABs did key wsus-a sign after T?"
"$W" s.log ec.key ec.pem 5 --every 100 --key-name wsus-a
sleep 1.1
since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 0.1
"$W" s.log ec.key ec.pem 5 --every 100 --start 6 --key-name wsus-a --refuse-every 4
"$W" s.log ec.key ec.pem 3 --every 100 --start 11 --key-name wsus-b
expect_rc 0 "$SIGNER" audit verify s.log
expect_rc 0 "$SIGNER" audit search --key wsus-a --since "$since" --result signed s.log
[ "$(wc -l <out)" = 4 ] || { cat out; fail "expected records 6, 7, 9, 10"; }
for i in 6 7 9 10; do
	has "digest=$(printf 'cab-%s' $i | sha256sum | cut -d' ' -f1)" out
	has "program=\"Product $i\" uid=1001" out
done
has "4 matching record(s)" err
d8=$(printf 'cab-8' | sha256sum | cut -d' ' -f1 | tr a-f A-F)
expect_rc 0 "$SIGNER" audit search --digest "$d8" s.log
[ "$(wc -l <out)" = 1 ] || fail "expected one record for cab-8"
has "refused error=CERT_REVOKED key=wsus-a" out
expect_rc 0 "$SIGNER" audit search --key wsus-a --until "$since" --json s.log
[ "$(wc -l <out)" = 5 ] || fail "expected records 1..5"
[ "$(head -n 1 out)" = "$(head -n 1 s.log)" ] || fail "--json does not print the raw line"
expect_rc 0 "$SIGNER" audit search --since 2000-01-01 s.log
[ "$(wc -l <out)" = 13 ] || fail "expected all 13 requests"
expect_rc 0 "$SIGNER" audit search --until 2000-01-01 s.log
[ ! -s out ] || fail "nothing is before 2000"
expect_rc 2 "$SIGNER" audit search --since yesterday s.log
expect_rc 2 "$SIGNER" audit search --digest xyz s.log
expect_rc 2 "$SIGNER" audit verify

echo "PASS: audit tool"
