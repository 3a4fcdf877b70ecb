#!/usr/bin/env bash
# Certificate dates are checked before every signature: CERT_EXPIRED,
# CERT_NOT_YET_VALID and CERT_EXPIRES_SOON (min_validity). The certificates
# are CA-issued from token CSRs, so this also covers csr, import-cert and the
# chain being embedded.
BIN=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ca.sh"
fixture_init
cd "$T"
pki_init
now() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
token_cert good "$T/issuing" "$(now '-1 day')" "$(now '+400 days')"
token_cert expired "$T/issuing" "$(now '-400 days')" "$(now '-1 day')"
token_cert future "$T/issuing" "$(now '+2 days')" "$(now '+400 days')"
token_cert soon "$T/issuing" "$(now '-1 day')" "$(now '+10 days')"
token_cert soonish "$T/issuing" "$(now '-1 day')" "$(now '+45 days')"
ca_crl "$T/issuing" "$T/issuing.crl"

note "import-cert refuses a certificate for another key, or without codeSigning"
expect_fail 1 "$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label good expired.pem
grep -q "does not match" "$T/err" || fail "mismatched import: $(cat "$T/err")"
ca_sign "$T/issuing" good.csr tls.pem "" "" tls
expect_fail 1 "$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label good tls.pem
grep -q "codeSigning" "$T/err" || fail "EKU check: $(cat "$T/err")"

entry() { # name [extra yaml lines]
	printf '  - name: %s\n    uri: "pkcs11:token=signerd-test;object=%s"\n    chain: %s\n%s\n' \
		"$1" "$1" "$T/chain.pem" "${2:-}"
}
write_config "$(entry good '    default: true')
$(entry expired)
$(entry future)
$(entry soon '    min_validity: 30d')
$(entry soonish '    min_validity: 30d')" "revocation:
  crl: [ $T/issuing.crl ]"
"$BIN/signerd" --check -c "$T/signerd.yaml" >"$T/check" || { cat "$T/check"; fail "--check"; }
grep -q "key expired: .*WARNING CERT_EXPIRED" "$T/check" || { cat "$T/check"; fail "--check on expired"; }
grep -q "key soon: .*WARNING CERT_EXPIRES_SOON" "$T/check" || { cat "$T/check"; fail "--check on soon"; }
grep -q "key soonish: .*WARNING within 30 days" "$T/check" ||
	{ cat "$T/check"; fail "--check does not warn 30 days before min_validity"; }
grep -q "key good (default): .*revocation good, CRL nextUpdate" "$T/check" ||
	{ cat "$T/check"; fail "--check revocation state"; }
daemon_start
echo hi >a.txt && gcab -c -n a.cab a.txt

note "the CA-issued key signs, with the chain embedded"
"$BIN/signer" sign-cab -o good.cab a.cab
cat issuing/ca.pem root/ca.pem >cafile.pem
osslsigncode verify -CAfile root/ca.pem -CRLfile <(openssl crl -inform DER -in issuing.crl) \
	-ignore-cdp -in good.cab >verify.txt 2>&1 || { cat verify.txt; fail "osslsigncode verify"; }
osslsigncode extract-signature -in good.cab -out good.p7 >/dev/null 2>&1
openssl pkcs7 -inform DER -in good.p7 -print_certs -noout >certs.txt 2>&1
grep -q "subject=CN = signerd test issuing CA" certs.txt || { cat certs.txt; fail "intermediate not embedded"; }
grep -q "subject=CN = good" certs.txt || { cat certs.txt; fail "the leaf was not embedded"; }

note "date checks"
for k in expired:CERT_EXPIRED future:CERT_NOT_YET_VALID soon:CERT_EXPIRES_SOON; do
	expect_fail 1 "$BIN/signer" sign-cab --key "${k%%:*}" -o "$k.cab" a.cab
	grep -q "${k#*:}" "$T/err" || fail "${k%%:*}: want ${k#*:}, got $(cat "$T/err")"
	[ ! -e "$k.cab" ] || fail "an output was written for a refused signature"
	echo "ok   ${k%%:*}: $(cat "$T/err")"
done
"$BIN/signer" sign-cab --key soonish -o soonish.cab a.cab
verify_cab soonish.cab cafile.pem
daemon_stop_checked
echo "test_validity: all passed"
