#!/usr/bin/env bash
# A signature outlives its certificate only through a trusted timestamp:
# `signer verify-cab` and `verify-script` with --ca and --tsa-ca ACCEPT an
# artefact whose signer certificate has expired when it carries an RFC 3161
# timestamp whose genTime lies inside the certificate's validity, and REJECT
# the same certificate's signature without a timestamp, with a timestamp but
# no --tsa-ca (the token's time is then not trusted), and with a trusted
# timestamp whose genTime is after notAfter.
#
# signerd will not sign with an expired certificate, so the key's certificate
# lives for LIFE seconds (default 10): the artefacts are signed while it is
# valid, then the test waits until it has expired and verifies. The late
# signature (genTime after notAfter) is made by osslsigncode with a key in a
# file and an already expired certificate.
BIN=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ca.sh"
. "$(dirname "$0")/tsa_fixture.sh"
need python3
fixture_init
cd "$T"
pki_init
tsa_start
EXTRA_CLEANUP=tsa_stop
echo "signed before expiry" >a.txt && gcab -c -n a.cab a.txt
printf 'Write-Output "signed before expiry"\r\n' >s.ps1
now() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
LIFE=${LIFE:-10}

note "two keys whose certificates expire in $LIFE s: one timestamps, one does not"
END_EPOCH=$(($(date +%s) + LIFE))
END=$(date -u -d "@$END_EPOCH" +%Y%m%d%H%M%SZ)
token_cert brief "$T/issuing" "$(now '-1 day')" "$END"
token_cert plain "$T/issuing" "$(now '-1 day')" "$END"
ca_crl "$T/issuing" "$T/issuing.crl"
entry() { # name [extra yaml lines]
	printf '  - name: %s\n    uri: "pkcs11:token=signerd-test;object=%s"\n    chain: %s\n%s\n' \
		"$1" "$1" "$T/chain.pem" "${2:-}"
}
write_config "$(entry brief '    default: true
    sign: [ cab, script ]')
$(entry plain '    timestamp: off')" "revocation:
  crl: [ $T/issuing.crl ]
timestamp:
  urls: [ \"$TSA/good\" ]
  policy: required
  ca: $T/tsa/ca.pem"
daemon_start
slow="run again with a larger LIFE (now $LIFE s) if the certificates expired before signing ended"
"$BIN/signer" sign-cab --key brief -o ts.cab a.cab &&
	"$BIN/signer" sign-cab --key plain -o nots.cab a.cab &&
	"$BIN/signer" sign-script --key brief -o ts.ps1 s.ps1 || fail "signing failed: $slow"
# Signed, and timestamped, before notAfter.
[ "$(date +%s)" -lt "$END_EPOCH" ] || fail "signing ended after notAfter: $slow"
daemon_stop_checked

note "while the certificates are valid, all of them verify, with or without a timestamp"
cat issuing/ca.pem root/ca.pem >cafile.pem
verify_cab ts.cab cafile.pem
verify_cab nots.cab cafile.pem
for f in ts.cab nots.cab; do
	"$BIN/signer" verify-cab --ca root/ca.pem "$f" >v.out || { cat v.out >&2; fail "verify-cab $f"; }
done
"$BIN/signer" verify-script --ca root/ca.pem ts.ps1 >v.out || { cat v.out >&2; fail "verify-script"; }

note "the late signature: osslsigncode, a certificate that expired yesterday, a timestamp from now"
openssl req -new -newkey rsa:2048 -nodes -keyout late.key -out late.csr \
	-subj "/CN=late/O=signerd tests" 2>/dev/null
ca_sign "$T/issuing" late.csr late.pem "$(now '-400 days')" "$(now '-1 day')"
osslsigncode sign -certs late.pem -ac issuing/ca.pem -key late.key -h sha256 -ts "$TSA/good" \
	-in a.cab -out late.cab >late.out 2>&1 || { cat late.out >&2; fail "osslsigncode sign"; }

note "waiting for the certificates to expire"
while [ "$(date +%s)" -le "$END_EPOCH" ]; do sleep 0.2; done
openssl x509 -in brief.pem -noout -checkend 0 >/dev/null && fail "brief.pem has not expired"

# verify_ok ARTEFACT OPTIONS...: verify-cab/-script accepts, and at the timestamp's time.
verify_ok() {
	local f=$1 cmd=verify-cab
	shift
	[ "${f##*.}" = ps1 ] && cmd=verify-script
	"$BIN/signer" "$cmd" "$@" "$f" >v.out 2>&1 || { cat v.out >&2; fail "$cmd rejected $f"; }
	qgrep -E '^timestamp: ok \(20[0-9-]+T[0-9:]+Z, TSA certificate trusted by --tsa-ca\)' v.out ||
		{ cat v.out >&2; fail "$f: no trusted timestamp"; }
	qgrep "^chain:     ok (.*, at the timestamp's time)" v.out ||
		{ cat v.out >&2; fail "$f: chain not checked at the timestamp's time"; }
	echo "ok   $cmd accepts $f: $(grep '^timestamp' v.out)"
}
# verify_expired ARTEFACT WHY OPTIONS...: rejected (exit 1) because the certificate has expired.
verify_expired() {
	local f=$1 why=$2 cmd=verify-cab
	shift 2
	[ "${f##*.}" = ps1 ] && cmd=verify-script
	expect_fail 1 "$BIN/signer" "$cmd" "$@" "$f"
	qgrep '^chain:     FAILED: .*certificate has expired' "$T/out" ||
		{ cat "$T/out" "$T/err" >&2; fail "$f ($why): not rejected as expired"; }
	echo "ok   $cmd rejects $f ($why): $(grep '^chain' "$T/out")"
}
# osslsigncode_says CAB ok|failed: osslsigncode's own verdict after expiry, as a
# second opinion (its exit status alone is not enough for the timestamp line).
osslsigncode_says() {
	local rc=0
	osslsigncode verify -CAfile cafile.pem -TSA-CAfile tsa/ca.pem -in "$1" >o.out 2>&1 || rc=$?
	if [ "$2" = ok ]; then
		[ "$rc" = 0 ] && qgrep '^Signature verification: ok' o.out &&
			qgrep '^Timestamp Server Signature verification: ok' o.out ||
			{ cat o.out >&2; fail "osslsigncode rejected $1 after expiry"; }
	else
		[ "$rc" != 0 ] && qgrep '^Signature verification: failed' o.out ||
			{ cat o.out >&2; fail "osslsigncode accepted $1 after expiry"; }
	fi
}

note "expired, timestamped inside the validity, TSA trusted: accepted"
verify_ok ts.cab --ca root/ca.pem --tsa-ca tsa/ca.pem
verify_ok ts.ps1 --ca root/ca.pem --tsa-ca tsa/ca.pem
osslsigncode_says ts.cab ok

note "expired, no timestamp: rejected"
verify_expired nots.cab "no timestamp" --ca root/ca.pem --tsa-ca tsa/ca.pem
qgrep '^timestamp: none' "$T/out" || fail "nots.cab: $(cat "$T/out")"
osslsigncode_says nots.cab failed

note "expired, timestamped but the TSA not trusted (no --tsa-ca): rejected"
verify_expired ts.cab "timestamp not trusted" --ca root/ca.pem
qgrep 'TSA certificate not checked (no --tsa-ca)' "$T/out" || fail "ts.cab: $(cat "$T/out")"
verify_expired ts.ps1 "timestamp not trusted" --ca root/ca.pem

note "expired before the timestamp's genTime: rejected"
verify_expired late.cab "genTime after notAfter" --ca root/ca.pem --tsa-ca tsa/ca.pem
qgrep '^timestamp: ok' "$T/out" || fail "late.cab: the timestamp itself should verify: $(cat "$T/out")"
osslsigncode_says late.cab failed

note "a timestamp from an untrusted TSA fails outright"
expect_fail 1 "$BIN/signer" verify-cab --ca root/ca.pem --tsa-ca tsa/other.pem ts.cab
qgrep '^timestamp: FAILED' "$T/out" || fail "foreign TSA: $(cat "$T/out")"
echo "PASS"
