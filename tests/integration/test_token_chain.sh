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
note "a CA certificate whose CKA_SUBJECT does not match its DER is still found"
if command -v "${CC:-cc}" >/dev/null 2>&1 && pkg-config --exists p11-kit-1; then
	cat >mkcert.c <<'C'
/* mkcert MODULE TOKEN PIN CERT.der CN LABEL: a CKO_CERTIFICATE whose CKA_VALUE is
 * CERT.der and whose CKA_SUBJECT is the name CN=CN instead of the certificate's. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
int main(int argc, char **argv)
{
	static unsigned char der[8192];
	unsigned char *subj = NULL;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID sl[16];
	CK_ULONG ns = 16, i;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	X509_NAME *n = X509_NAME_new();
	FILE *fp;
	size_t dl = 0, ll;
	int sbl;
	void *mod;
	if (argc != 7 || (fp = fopen(argv[4], "rb")) == NULL)
		return 2;
	dl = fread(der, 1, sizeof(der), fp);
	fclose(fp);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (unsigned char *)argv[5], -1, -1, 0);
	if (dl == 0 || (sbl = i2d_X509_NAME(n, &subj)) <= 0 ||
	    (mod = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (gfl = (CK_C_GetFunctionList)dlsym(mod, "C_GetFunctionList")) == NULL ||
	    gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, sl, &ns) != CKR_OK)
		return 2;
	ll = strlen(argv[2]);
	for (i = 0; i < ns; i++)
		if (f->C_GetTokenInfo(sl[i], &ti) == CKR_OK && ll < 32 &&
		    memcmp(ti.label, argv[2], ll) == 0 && ti.label[ll] == ' ')
			break;
	if (i == ns ||
	    f->C_OpenSession(sl[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3])) != CKR_OK)
		return 2;
	CK_ATTRIBUTE t[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_LABEL, argv[6], strlen(argv[6])},
	    {CKA_SUBJECT, subj, (CK_ULONG)sbl},
	    {CKA_VALUE, der, dl},
	};
	if (f->C_CreateObject(s, t, sizeof(t) / sizeof(*t), &h) != CKR_OK)
		return 3;
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
C
	"${CC:-cc}" -o mkcert mkcert.c $(pkg-config --cflags p11-kit-1) -lcrypto -ldl ||
		fail "cannot build the PKCS#11 certificate writer"
	openssl x509 -in root/ca.pem -outform DER -out root.der
	./mkcert "$SOFTHSM_MODULE" signerd-test "$PIN" root.der "not the root" "root, mislabelled" ||
		fail "cannot write the root with another CKA_SUBJECT"
	# pkcs11-tool shows the CKA_SUBJECT the object really has.
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signerd-test --login --pin "$PIN" \
		--list-objects --type cert >objs 2>&1 || { cat objs; fail "pkcs11-tool --list-objects"; }
	grep -A3 "label: *root, mislabelled" objs | qgrep "subject: *DN: CN=not the root" ||
		{ cat objs; fail "the mislabelled root's CKA_SUBJECT is not the other name"; }
	config ""
	restart
	grep -q "key chained (default): .*, chain 2 from the token" check ||
		{ cat check; fail "the root with another CKA_SUBJECT was not found"; }
	sign fallback.cab
	p7_fps fallback.cab | sort >got
	printf '%s\n' "$LEAF_FP" "$RENEWED_FP" "$ROOT_FP" | sort >want
	cmp -s want got || { diff want got || true; fail "fallback.cab does not carry the root"; }
	verify_cab fallback.cab root/ca.pem
	daemon_stop_checked
else
	echo "no C compiler or p11-kit-1 pkg-config: CKA_SUBJECT fallback not tested"
fi

note "a chain from the token that reaches a root but does not verify fails the key"
# An "issuing CA" that is no CA (CA:FALSE) but signs a leaf anyway: the walk finds it
# (its key verifies the leaf), the verification a chain: file gets refuses it.
mkdir -p "$T/notca"
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/notca/ca.key" -out notca.csr \
	-subj "/CN=not a CA" 2>/dev/null
openssl ca -batch -config "$T/root/ca.cnf" -extensions codesign -days 300 -notext \
	-in notca.csr -out "$T/notca/ca.pem" >/dev/null 2>&1 || fail "openssl ca: not-a-CA"
ca_conf "$T/notca"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out leaf3.key 2>/dev/null
openssl req -new -key leaf3.key -subj "/CN=leaf under a non-CA" -out leaf3.csr
ca_sign "$T/notca" leaf3.csr leaf3.pem "" "" codesign
cat "$T/notca/ca.pem" root/ca.pem >notca-chain.pem
openssl pkcs12 -export -inkey leaf3.key -in leaf3.pem -certfile notca-chain.pem \
	-passout file:pass -out notca.pfx
"$BIN/signer" token import-pfx "${TOKEN_ARGS[@]}" --label undercut --pass-file pass notca.pfx >/dev/null
write_config "  - name: undercut
    uri: \"pkcs11:token=signerd-test;object=undercut\"
    default: true"
expect_fail 1 "$BIN/signerd" --check -c "$T/signerd.yaml"
grep -q 'key "undercut": chain from the token: the certificate does not chain to a root in the chain: invalid CA certificate' \
	"$T/err" || { cat "$T/out" "$T/err"; fail "a token chain through a non-CA was not refused"; }
echo "PASS"
