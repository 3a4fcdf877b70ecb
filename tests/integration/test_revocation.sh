#!/usr/bin/env bash
# The PKI path end to end: token CSR, CA-issued certificate, osslsigncode
# verification with the CRL, then revocation, stale, forged and rolled-back
# CRLs, background refresh, on_unavailable: allow, and a revoked intermediate.
BIN=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ca.sh"
fixture_init
cd "$T"
pki_init
token_cert k1 "$T/issuing"
token_cert k2 "$T/issuing"
ca_crl "$T/issuing" crl1.der # CRL number 1, nothing revoked
cp crl1.der current.crl

# keys_rev NAME: the revocation column of `signer keys` for NAME
keys_rev() { "$BIN/signer" keys | awk -v k="$1" '$1 == k { print $0 }'; }
# expect_state NAME REGEX [TRIES]: poll signer keys until the line matches
expect_state() {
	local i
	for i in $(seq 1 "${3:-1}"); do
		keys_rev "$1" | qgrep -E "$2" && return 0
		sleep 0.5
	done
	"$BIN/signer" keys >&2
	fail "key $1 is not in state /$2/"
}
hup() {
	kill -HUP "$DAEMON_PID"
	sleep 0.5
}
sign_ok() { "$BIN/signer" sign-cab --key "$1" -o "$2" a.cab || fail "signing with $1 failed"; }
sign_refused() { # KEY CODE
	expect_fail 1 "$BIN/signer" sign-cab --key "$1" -o refused.cab a.cab
	grep -q "$2" "$T/err" || fail "want $2, got: $(cat "$T/err")"
	[ ! -e refused.cab ] || fail "an output was written for a refused signature"
	"$BIN/signer" status >/dev/null || fail "the daemon stopped serving"
	echo "ok   $1 refused: $(cat "$T/err")"
}

write_config "  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    chain: $T/chain.pem
    default: true
  - name: k2
    uri: \"pkcs11:token=signerd-test;object=k2\"
    chain: $T/chain.pem" "revocation:
  crl: [ $T/current.crl ]
  refresh: 1s"
daemon_start
echo hello >a.txt && gcab -c -n a.cab a.txt

note "a CA-issued key signs, and osslsigncode verifies it against root + CRL"
sign_ok k1 k1.cab
openssl crl -inform DER -in crl1.der -out crl1.pem
osslsigncode verify -CAfile root/ca.pem -CRLfile crl1.pem -ignore-cdp -in k1.cab >v.txt 2>&1 ||
	{ cat v.txt; fail "osslsigncode verify with CRL"; }
expect_state k1 " good "
"$BIN/signer" keys | qgrep -E "k1 .*good .*[0-9]{4}-[0-9]{2}-[0-9]{2}T" ||
	{ "$BIN/signer" keys; fail "signer keys lacks the CRL nextUpdate"; }

note "a stale CRL is refused, with no fallback to the good one held before"
ca_crl "$T/issuing" crl2.der -crlsec 1
sleep 2
cp crl2.der current.crl && hup
expect_state k1 "crl-unavailable"
sign_refused k1 CRL_UNAVAILABLE
grep -q "stale" "$T/err" || fail "the message does not say the CRL is stale"

note "a good CRL restores signing"
ca_crl "$T/issuing" crl3.der
cp crl3.der current.crl && hup
expect_state k1 " good "
sign_ok k1 k1b.cab

note "a forged CRL (same issuer name, another key) is refused"
mkdir -p forged
openssl req -x509 -newkey rsa:2048 -nodes -keyout forged/ca.key -out forged/ca.pem -days 30 \
	-subj "/CN=signerd test issuing CA" 2>/dev/null
ca_conf "$T/forged"
echo 99 >forged/crlnumber
ca_crl "$T/forged" forged.der
cp forged.der current.crl && hup
sign_refused k1 CRL_UNAVAILABLE
grep -q "does not verify" "$T/err" || fail "the message does not say the signature is bad"

note "an older CRL (lower CRL number) is refused: rollback protection"
cp crl1.der current.crl && hup
sign_refused k1 CRL_UNAVAILABLE
grep -q "rollback" "$T/err" || fail "the message does not mention the rollback"

note "a new CRL is picked up by the refresh timer, without SIGHUP"
ca_crl "$T/issuing" crl4.der
cp crl4.der current.crl
expect_state k1 " good " 10
sign_ok k1 k1c.cab

note "revocation at the CA: CERT_REVOKED with serial, reason and date"
serial=$(openssl x509 -in k1.pem -noout -serial | cut -d= -f2)
ca_revoke "$T/issuing" k1.pem keyCompromise
ca_crl "$T/issuing" crl5.der
cp crl5.der current.crl && hup
expect_state k1 "revoked"
sign_refused k1 CERT_REVOKED
grep -qi "serial $serial" "$T/err" || fail "serial $serial not in: $(cat "$T/err")"
grep -q "keyCompromise" "$T/err" || fail "reason not in: $(cat "$T/err")"
grep -Eq "revoked at [0-9]{4}-" "$T/err" || fail "date not in: $(cat "$T/err")"
sign_ok k2 k2.cab # the other key of the same CA is unaffected
openssl crl -inform DER -in crl5.der -out crl5.pem
! osslsigncode verify -CAfile root/ca.pem -CRLfile crl5.pem -ignore-cdp -in k1.cab >v.txt 2>&1 ||
	fail "osslsigncode accepts a revoked signer (the test is broken)"
grep -qi "revoked" v.txt || { cat v.txt; fail "osslsigncode did not report the revocation"; }

note "rotate to another CA-issued key: the default switches with no restart"
sed -i '/    default: true/d' signerd.yaml
sed -i 's|  - name: k2|  - name: k2\n    default: true|' signerd.yaml
hup
"$BIN/signer" sign-cab -o rotated.cab a.cab || fail "signing with the new default key failed"
osslsigncode verify -CAfile root/ca.pem -CRLfile crl5.pem -ignore-cdp -in rotated.cab >v.txt 2>&1 ||
	{ cat v.txt; fail "the rotated key's CAB does not verify with the CRL"; }
osslsigncode extract-signature -in rotated.cab -out rotated.p7 >/dev/null 2>&1
openssl pkcs7 -inform DER -in rotated.p7 -print_certs -noout | qgrep "subject=CN = k2" ||
	fail "the default key did not switch to k2"
echo "ok   default switched from the revoked k1 to k2 by SIGHUP; signing resumed"

note "on_unavailable: allow signs, and logs loudly"
cp forged.der current.crl
sed -i 's/  refresh: 1s/  refresh: 1s\n  on_unavailable: allow/' signerd.yaml
hup
sign_ok k2 k2-allowed.cab
grep -q 'WITHOUT a valid CRL' signerd.log || fail "no warning logged for on_unavailable: allow"

note "a revoked intermediate, when the root's CRL is configured"
cp crl5.der current.crl
ca_revoke "$T/root" issuing/ca.pem cACompromise
ca_crl "$T/root" root.der
sed -i "s|  crl: \[ $T/current.crl \]|  crl: [ $T/current.crl, $T/root.der ]|; s/  on_unavailable: allow//" signerd.yaml
hup
sign_refused k2 CERT_REVOKED
grep -q "signerd test issuing CA" "$T/err" || fail "the revoked intermediate is not named"
daemon_stop_checked
echo "test_revocation: all passed"
