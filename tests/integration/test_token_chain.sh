#!/usr/bin/env bash
# A key without a chain: file takes its chain from the CA certificates on the
# token (those import-pfx stores): the SignedData carries the intermediate, so
# osslsigncode verifies with the root alone. No CA certificates: no chain, as
# before. Several certificates with the issuer's name: the one whose key
# verifies, the latest. A chain: file still wins. signer token list shows them.
BIN=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ca.sh"
fixture_init
need pkcs11-tool
cd "$T"
PIN=$(cat "$T/pin")

note "a two-tier PKI, a code-signing leaf, PFX files with and without the CA"
pki_init
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out leaf.key 2>/dev/null
openssl req -new -key leaf.key -subj "/CN=chain leaf/O=signerd tests" -out leaf.csr
ca_sign "$T/issuing" leaf.csr leaf.pem "" "" codesign
ca_crl "$T/issuing" issuing.crl
(umask 077 && printf 'pfx pass\n' >pass)
openssl pkcs12 -export -inkey leaf.key -in leaf.pem -passout file:pass -out noca.pfx
openssl pkcs12 -export -inkey leaf.key -in leaf.pem -certfile chain.pem -passout file:pass \
	-out withca.pfx
# The same issuing CA key certified again, valid longer, and an impostor with
# the issuing CA's name but another key, valid longest.
openssl ca -batch -config "$T/root/ca.cnf" -extensions subca -days 3500 -notext \
	-in "$T/issuing/ca.csr" -out renewed.pem >/dev/null 2>&1 || fail "renewed issuing CA"
openssl req -new -newkey rsa:2048 -nodes -keyout impostor.key -out impostor.csr \
	-subj "/CN=signerd test issuing CA" 2>/dev/null
openssl ca -batch -config "$T/root/ca.cnf" -extensions subca -days 3600 -notext \
	-in impostor.csr -out impostor.pem >/dev/null 2>&1 || fail "impostor CA"
cat renewed.pem impostor.pem >extra-cas.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out leaf2.key 2>/dev/null
openssl req -new -key leaf2.key -subj "/CN=second leaf/O=signerd tests" -out leaf2.csr
ca_sign "$T/issuing" leaf2.csr leaf2.pem "" "" codesign
openssl pkcs12 -export -inkey leaf2.key -in leaf2.pem -certfile extra-cas.pem \
	-passout file:pass -out extra.pfx

fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }
ROOT_FP=$(fp root/ca.pem)
ISSUING_FP=$(fp issuing/ca.pem)
RENEWED_FP=$(fp renewed.pem)
IMPOSTOR_FP=$(fp impostor.pem)
LEAF_FP=$(fp leaf.pem)
# p7_fps CAB: the SHA-256 fingerprints of the certificates in CAB's signature, one a line.
p7_fps() {
	rm -f "$T/p7.der" # extract-signature does not overwrite
	osslsigncode extract-signature -in "$1" -out "$T/p7.der" >/dev/null 2>&1 ||
		fail "cannot extract the signature of $1"
	openssl pkcs7 -inform DER -in "$T/p7.der" -print_certs >"$T/p7.pem" ||
		fail "the signature of $1 is not PKCS#7"
	rm -f "$T"/p7cert.*
	awk -v d="$T" '/BEGIN CERT/ {n++} n {print > (d "/p7cert." n)}' "$T/p7.pem"
	for c in "$T"/p7cert.*; do fp "$c"; done
}
config() { # EXTRA-KEY-LINES
	write_config "  - name: chained
    uri: \"pkcs11:token=signerd-test;object=chained\"
    default: true$1" "revocation:
  crl: [ $T/issuing.crl ]"
}
mkdir -p in && echo "signed with the token's chain" >in/a.txt
(cd in && gcab -c -n "$T/plain.cab" a.txt)
sign() { "$BIN/signer" sign-cab -o "$T/$1" "$T/plain.cab"; }
list() { "$BIN/signer" token list "${TOKEN_ARGS[@]}" >"$T/$1" || fail "signer token list"; }
restart() {
	"$BIN/signerd" --check -c "$T/signerd.yaml" >"$T/check" 2>&1 || { cat "$T/check"; fail "--check"; }
	daemon_start
}

note "no CA certificate on the token: no chain and no error at load, as before"
"$BIN/signer" token import-pfx "${TOKEN_ARGS[@]}" --label chained --pass-file pass noca.pfx >/dev/null
list list.noca
[ "$(grep -c ' CA cert ' list.noca || true)" = 0 ] || { cat list.noca; fail "a CA certificate listed"; }
config ""
restart
grep -q "key chained (default): active" check || { cat check; fail "--check key line"; }
! grep -q ", chain " check || { cat check; fail "--check reports a chain with no CA on the token"; }
# As before: a CA-issued key without its issuer cannot have its CRL checked, so it does not sign.
expect_fail 1 "$BIN/signer" sign-cab -o "$T/noca.cab" "$T/plain.cab"
grep -qF "CRL_UNAVAILABLE: key \"chained\": the issuer of /CN=chain leaf/O=signerd tests is not in the key's chain (its chain: file, else the CA certificates on the token)" \
	"$T/err" || { cat "$T/err"; fail "signing without an issuer: not refused clearly"; }
daemon_stop_checked
grep -q 'key "chained": no chain: file and no CA certificates for it on the token' signerd.log ||
	{ cat signerd.log; fail "no log line about the missing chain"; }
# The control for what follows: a signature without the intermediate does not verify with
# the root alone (made here by osslsigncode with the leaf's own key).
osslsigncode sign -certs leaf.pem -key leaf.key -in plain.cab -out control.cab >/dev/null 2>&1 ||
	fail "osslsigncode sign (control)"
! osslsigncode verify -CAfile root/ca.pem -in control.cab >verify.control 2>&1 ||
	fail "a signature without the intermediate verifies with the root alone: the test proves nothing"
verify_cab control.cab chain.pem

note "the PFX's CA certificates on the token become the key's chain"
"$BIN/signer" token import-pfx "${TOKEN_ARGS[@]}" --label other --pass-file pass withca.pfx >/dev/null
list list.ca
for ca in "signerd test issuing CA" "signerd test root"; do
	grep -Eq "^$ca +CA cert  id -  subject /CN=$ca  notAfter [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$" \
		list.ca || { cat list.ca; fail "signer token list does not show CA certificate \"$ca\""; }
done
[ "$(grep -c ' CA cert ' list.ca || true)" = 2 ] || { cat list.ca; fail "not 2 CA certificates listed"; }
grep -Eq "^chained +RSA .* cert /CN=chain leaf/O=signerd tests$" list.ca ||
	{ cat list.ca; fail "the key line changed"; }
# notAfter as the certificate says.
want=$(date -u -d "$(openssl x509 -in root/ca.pem -noout -enddate | sed 's/^notAfter=//')" +%Y-%m-%dT%H:%M:%SZ)
grep -q "subject /CN=signerd test root  notAfter $want$" list.ca || { cat list.ca; fail "root notAfter"; }
restart
grep -q "key chained (default): .*, chain 2 from the token" check || { cat check; fail "--check chain"; }
sign token.cab
p7_fps token.cab | sort >got
printf '%s\n' "$LEAF_FP" "$ISSUING_FP" "$ROOT_FP" | sort >want
cmp -s want got || { diff want got || true; fail "token.cab does not carry leaf, issuing CA and root"; }
verify_cab token.cab root/ca.pem
grep -q "Signature verification: ok" verify.out || fail "token.cab: verification"
"$BIN/signer" cert --chain -o certchain.pem
[ "$(grep -c 'BEGIN CERTIFICATE' certchain.pem)" = 3 ] || { cat certchain.pem; fail "GET_CERT chain"; }
daemon_stop_checked
grep -q 'key "chained": chain from the token: 2 CA certificates up to the root /CN=signerd test root' \
	signerd.log || { cat signerd.log; fail "no log line about the token chain"; }

note "chain: still wins over the token"
cat renewed.pem root/ca.pem >file-chain.pem
config "
    chain: $T/file-chain.pem"
restart
grep -q "key chained (default): .*, chain 2 from $T/file-chain.pem" check ||
	{ cat check; fail "--check does not name the chain file"; }
sign file.cab
p7_fps file.cab | sort >got
printf '%s\n' "$LEAF_FP" "$RENEWED_FP" "$ROOT_FP" | sort >want
cmp -s want got || { diff want got || true; fail "file.cab does not carry the chain: file's certificates"; }
verify_cab file.cab root/ca.pem
daemon_stop_checked
# A chain: file that does not lead to a root fails, though the token's chain would do.
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 3 \
	-subj "/CN=unrelated CA" 2>/dev/null
config "
    chain: $T/other.pem"
expect_fail 1 "$BIN/signerd" --check -c "$T/signerd.yaml"
grep -q "key \"chained\": chain $T/other.pem: the certificate does not chain to a root" "$T/err" ||
	{ cat "$T/out" "$T/err"; fail "a bad chain: file was not refused (no fallback to the token)"; }

note "several certificates with the issuing CA's name: the latest whose key verifies"
"$BIN/signer" token import-pfx "${TOKEN_ARGS[@]}" --label second --pass-file pass extra.pfx >/dev/null
list list.extra
[ "$(grep -c '^signerd test issuing CA  *CA cert ' list.extra || true)" = 3 ] ||
	{ cat list.extra; fail "not 3 issuing CA certificates on the token"; }
config ""
for round in 1 2; do
	restart
	sign ambiguous$round.cab
	p7_fps ambiguous$round.cab | sort >got
	printf '%s\n' "$LEAF_FP" "$RENEWED_FP" "$ROOT_FP" | sort >want
	cmp -s want got || {
		diff want got || true
		! grep -qx "$IMPOSTOR_FP" got || fail "the impostor (another key) was taken"
		fail "round $round: not the renewed issuing CA"
	}
	verify_cab ambiguous$round.cab root/ca.pem
	daemon_stop_checked
done

note "without the root on the token: the intermediate alone, with a warning"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signerd-test --login --pin "$PIN" \
	--delete-object --type cert --label "signerd test root" >/dev/null 2>&1 ||
	fail "cannot delete the root certificate object"
list list.noroot
! grep -q "^signerd test root " list.noroot || { cat list.noroot; fail "root still listed"; }
restart
grep -q "key chained (default): .*, chain 1 from the token" check || { cat check; fail "--check chain 1"; }
sign noroot.cab
p7_fps noroot.cab | sort >got
printf '%s\n' "$LEAF_FP" "$RENEWED_FP" | sort >want
cmp -s want got || { diff want got || true; fail "noroot.cab does not carry leaf and intermediate"; }
verify_cab noroot.cab root/ca.pem
daemon_stop_checked
grep -q 'key "chained": chain from the token: 1 CA certificates, not up to a root: no certificate of /CN=signerd test root' \
	signerd.log || { cat signerd.log; fail "no warning about the chain without a root"; }
echo "PASS"
