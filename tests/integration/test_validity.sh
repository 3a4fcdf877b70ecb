#!/usr/bin/env bash
# Certificate dates are checked before every signature: CERT_EXPIRED,
# CERT_NOT_YET_VALID and CERT_EXPIRES_SOON (min_validity). The certificates
# are CA-issued from a token CSR, so this also covers csr, import-cert and the
# chain file being embedded.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init
cd "$T"

note "a private CA"
mkdir -p ca/new && : >ca/index.txt && echo 1000 >ca/serial
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca/ca.key -out ca/ca.pem -days 3650 \
	-subj "/CN=signerd test root" -addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
cat >ca/ca.cnf <<CNF
[ ca ]
default_ca = test
[ test ]
dir = $T/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
x509_extensions = codesign
[ any ]
commonName = supplied
[ codesign ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
[ tls ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
CNF

# issue LABEL START END: key on the token, CSR, certificate from the CA, imported.
issue() {
	"$BIN/signer" token keygen "${TOKEN_ARGS[@]}" --label "$1" --type rsa:2048 >/dev/null
	"$BIN/signer" token csr "${TOKEN_ARGS[@]}" --label "$1" --subject "/CN=$1/O=signerd tests" \
		-o "$1.csr"
	openssl req -in "$1.csr" -noout -verify 2>&1 | grep -q "verify OK" ||
		fail "the token's CSR signature does not verify"
	openssl ca -batch -config ca/ca.cnf -in "$1.csr" -out "$1.pem" -startdate "$2" \
		-enddate "$3" -notext >/dev/null 2>&1 || fail "openssl ca refused $1"
	"$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label "$1" "$1.pem" >/dev/null
}
now() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
issue good "$(now '-1 day')" "$(now '+400 days')"
issue expired "$(now '-400 days')" "$(now '-1 day')"
issue future "$(now '+2 days')" "$(now '+400 days')"
issue soon "$(now '-1 day')" "$(now '+10 days')"

note "import-cert refuses a certificate for another key, or without codeSigning"
expect_fail 1 "$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label good expired.pem
grep -q "does not match" "$T/err" || fail "mismatched import: $(cat "$T/err")"
openssl ca -batch -config ca/ca.cnf -extensions tls -in good.csr -out tls.pem -days 30 -notext \
	>/dev/null 2>&1 || fail "openssl ca refused the serverAuth certificate"
expect_fail 1 "$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label good tls.pem
grep -q "codeSigning" "$T/err" || fail "EKU check: $(cat "$T/err")"

entry() { # name [extra yaml lines]
	printf '  - name: %s\n    uri: "pkcs11:token=signerd-test;object=%s"\n    chain: %s\n%s\n' \
		"$1" "$1" "$T/ca/ca.pem" "${2:-}"
}
write_config "$(entry good '    default: true')
$(entry expired)
$(entry future)
$(entry soon '    min_validity: 30d')"
"$BIN/signerd" --check -c "$T/signerd.yaml" >"$T/check" || { cat "$T/check"; fail "--check"; }
grep -q "key expired: .*WARNING CERT_EXPIRED" "$T/check" || { cat "$T/check"; fail "--check on expired"; }
grep -q "key soon: .*WARNING CERT_EXPIRES_SOON" "$T/check" || { cat "$T/check"; fail "--check on soon"; }
daemon_start
echo hi >a.txt && gcab -c -n a.cab a.txt

note "the CA-issued key signs, with the chain embedded"
"$BIN/signer" sign-cab -o good.cab a.cab
verify_cab good.cab ca/ca.pem
osslsigncode extract-signature -in good.cab -out good.p7 >/dev/null 2>&1
openssl pkcs7 -inform DER -in good.p7 -print_certs -noout >certs.txt 2>&1
grep -q "subject=CN = signerd test root" certs.txt || { cat certs.txt; fail "the chain was not embedded"; }
grep -q "subject=CN = good" certs.txt || { cat certs.txt; fail "the leaf was not embedded"; }

note "date checks"
for k in expired:CERT_EXPIRED future:CERT_NOT_YET_VALID soon:CERT_EXPIRES_SOON; do
	expect_fail 1 "$BIN/signer" sign-cab --key "${k%%:*}" -o "$k.cab" a.cab
	grep -q "${k#*:}" "$T/err" || fail "${k%%:*}: want ${k#*:}, got $(cat "$T/err")"
	[ ! -e "$k.cab" ] || fail "an output was written for a refused signature"
	echo "ok   ${k%%:*}: ${k#*:} ($(cat "$T/err"))"
done
daemon_stop_checked
echo "test_validity: all passed"
