#!/usr/bin/env bash
# signer token import-pfx: keys from PKCS#12 files (modern AES/PBKDF2 and
# legacy RC2/3DES, RSA-2048 and EC P-256) land on the token sensitive and not
# extractable, honestly marked as imported; refusals leave no object behind;
# an imported key signs a CAB that osslsigncode accepts with the PFX's CA.
BIN=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ca.sh"
fixture_init
need pkcs11-tool
cd "$T"
PIN=$(cat "$T/pin")

note "a throwaway PKI (root and issuing CA) and leaf certificates"
pki_init
# leaf NAME EXTENSIONS KEYALG-OPTIONS...: NAME.key, NAME.pem issued by the issuing CA
leaf() {
	local name=$1 ext=$2
	shift 2
	openssl genpkey "$@" -out "$name.key" 2>/dev/null
	openssl req -new -key "$name.key" -subj "/CN=$name/O=signerd tests" -out "$name.csr"
	ca_sign "$T/issuing" "$name.csr" "$name.pem" "" "" "$ext"
}
leaf rsa codesign -algorithm RSA -pkeyopt rsa_keygen_bits:2048
leaf ec codesign -algorithm EC -pkeyopt ec_paramgen_curve:P-256
leaf tls tls -algorithm RSA -pkeyopt rsa_keygen_bits:2048
ca_crl "$T/issuing" issuing.crl

note "PFX files: modern and -legacy, with the CA inside"
PASS='pfx pass phrase 1'
(umask 077 && printf '%s\n' "$PASS" >pass && printf '%s\r\n' "$PASS" >pass-crlf &&
	printf 'not the password\n' >wrong)
for k in rsa ec tls; do
	openssl pkcs12 -export -inkey $k.key -in $k.pem -certfile chain.pem -passout file:pass \
		-out $k-modern.pfx
	openssl pkcs12 -export -legacy -inkey $k.key -in $k.pem -certfile chain.pem \
		-passout file:pass -out $k-legacy.pfx
done
openssl pkcs12 -export -inkey rsa.key -in rsa.pem -passout file:pass -out rsa-noca.pfx
# The files must really be what the test says they are.
openssl pkcs12 -info -noout -in rsa-modern.pfx -passin file:pass >info 2>&1
grep -q "PBES2, PBKDF2, AES-256-CBC" info || { cat info; fail "modern PFX is not AES/PBKDF2"; }
openssl pkcs12 -info -noout -legacy -in rsa-legacy.pfx -passin file:pass >info 2>&1
grep -q "pbeWithSHA1And40BitRC2-CBC" info || { cat info; fail "legacy PFX is not RC2"; }
grep -q "pbeWithSHA1And3-KeyTripleDES-CBC" info || { cat info; fail "legacy PFX key is not 3DES"; }
openssl pkcs12 -info -noout -in rsa-legacy.pfx -passin file:pass >info 2>&1 &&
	fail "legacy PFX decrypts without the legacy provider: it does not test that path"

# Object inventory: every object on the token (pkcs11-tool) and signer's key list.
inventory() {
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signerd-test --login --pin "$PIN" \
		--list-objects >"$1.raw" 2>&1 || { cat "$1.raw"; fail "pkcs11-tool --list-objects"; }
	sort "$1.raw" >"$1.p11" # the module's object order is not stable
	local rc=0
	timeout 60 "$BIN/signer" token list "${TOKEN_ARGS[@]}" >"$1.raw" 2>&1 || rc=$?
	[ "$rc" != 124 ] || fail "signer token list hung (a session held across the list callback?)"
	[ "$rc" = 0 ] || { cat "$1.raw"; fail "signer token list failed"; }
	sort "$1.raw" >"$1.list"
}
same_inventory() { # BEFORE AFTER WHAT
	cmp -s "$1.p11" "$2.p11" || { diff "$1.p11" "$2.p11"; fail "$3 left objects on the token"; }
	cmp -s "$1.list" "$2.list" || { diff "$1.list" "$2.list"; fail "$3 changed signer token list"; }
}
count() { grep -c "$1" "$2" || true; }
import() { "$BIN/signer" token import-pfx "${TOKEN_ARGS[@]}" "$@"; }

note "a failure after the key is created undoes the whole import"
inventory empty
[ "$(count 'Object;' empty.p11)" = 0 ] || { cat empty.p11; fail "the fresh token is not empty"; }
expect_fail 1 import --label undo --pass-file pass --chain-out "$T/no/such/dir/chain.pem" \
	rsa-modern.pfx
grep -q "no/such/dir" "$T/err" || { cat "$T/err"; fail "chain-out failure not reported"; }
inventory after-undo
same_inventory empty after-undo "an import that failed at --chain-out"

note "refusals leave nothing behind"
for f in rsa-modern rsa-legacy; do
	expect_fail 1 import --label wrongpw --pass-file wrong $f.pfx
	grep -qx "signer token import-pfx: $f.pfx: wrong password (the PFX integrity check failed)" \
		"$T/err" || { cat "$T/err"; fail "wrong password on $f not reported clearly"; }
	! grep -qF "$PASS" "$T/out" "$T/err" || fail "a password was printed"
	! grep -qF "not the password" "$T/out" "$T/err" || fail "a password was printed"
done
expect_fail 1 import --label tls --pass-file pass tls-modern.pfx
grep -q "tls-modern.pfx: the certificate has no codeSigning extended key usage" "$T/err" ||
	{ cat "$T/err"; fail "a serverAuth-only certificate was not refused clearly"; }
expect_fail 1 import --label noca --pass-file pass --chain-out "$T/noca.pem" rsa-noca.pfx
grep -q "holds no CA certificates" "$T/err" || { cat "$T/err"; fail "--chain-out without CA"; }
[ ! -e "$T/noca.pem" ] || fail "--chain-out written for a PFX without CA certificates"
printf 'this is not a PFX\n' >junk.pfx
expect_fail 1 import --label junk --pass-file pass junk.pfx
grep -q "junk.pfx: not a DER PKCS#12 (PFX) file" "$T/err" || { cat "$T/err"; fail "junk PFX"; }
inventory after-refusals
same_inventory empty after-refusals "refused imports"

note "imports: RSA-2048 and EC P-256, modern and legacy"
import --label rsa-modern --pass-file pass --chain-out "$T/chain-rsa.pem" rsa-modern.pfx >out.rm
import --label rsa-legacy --pass-file pass rsa-legacy.pfx >out.rl
import --label ec-modern --pass-file pass --chain-out "$T/chain-ec.pem" ec-modern.pfx \
	>out.em 2>err.em
import --label ec-legacy --pass-file pass-crlf ec-legacy.pfx >out.el
for o in rm:"RSA 2048-bit key \"rsa-modern\" from rsa-modern.pfx" \
	rl:"RSA 2048-bit key \"rsa-legacy\" from rsa-legacy.pfx" \
	em:"EC 256-bit key \"ec-modern\" from ec-modern.pfx" \
	el:"EC 256-bit key \"ec-legacy\" from ec-legacy.pfx"; do
	f=out.${o%%:*}
	grep -qx "imported ${o#*:} onto token \"signerd-test\"" $f || { cat $f; fail "$f: first line"; }
	grep -qx "  origin: imported (not generated on the token; CKA_LOCAL false)" $f ||
		{ cat $f; fail "$f does not say the key was imported"; }
	grep -qx "  now: sensitive, not extractable (CKA_SENSITIVE true, CKA_EXTRACTABLE false)" $f ||
		{ cat $f; fail "$f does not say sensitive, not extractable"; }
done
grep -qx "certificate /CN=rsa/O=signerd tests stored on the token with the key" out.rm ||
	{ cat out.rm; fail "leaf certificate line"; }
grep -qx "CA certificates: 2 in the PFX; stored on the token as authority certificates (2 new, 0 already there)" \
	out.rm || { cat out.rm; fail "CA certificate not stored once"; }
grep -qx "chain written to $T/chain-rsa.pem (use it as signerd.yaml's chain:)" out.rm ||
	{ cat out.rm; fail "chain file not reported"; }
grep -qx "CA certificates: 2 in the PFX; stored on the token as authority certificates (0 new, 2 already there)" \
	out.rl || { cat out.rl; fail "the same CA was stored twice"; }
grep -q "chain not written to a file (give --chain-out FILE" out.rl ||
	{ cat out.rl; fail "no hint about --chain-out"; }
grep -q "WSUS" err.em || fail "no ECDSA/WSUS warning"
# The chain files hold exactly the PFX's CA certificates: the issuing CA and the root.
fingerprints() {
	awk '/BEGIN CERT/ {n++} {print > ("fp." n)}' "$1"
	for c in fp.*; do openssl x509 -in "$c" -noout -fingerprint -sha256; done | sort
	rm -f fp.*
}
fingerprints chain.pem >want.fp
[ "$(wc -l <want.fp)" = 2 ] || fail "the test chain does not hold 2 certificates"
for c in chain-rsa.pem chain-ec.pem; do
	fingerprints $c >got.fp
	cmp -s want.fp got.fp || { cat $c; fail "$c is not the issuing CA and the root"; }
done

note "attestation: sensitive, not extractable, honestly imported"
for l in rsa-modern rsa-legacy ec-modern ec-legacy; do
	"$BIN/signer" token attest "${TOKEN_ARGS[@]}" --label $l >attest.$l
	for want in "CKA_SENSITIVE: true" "CKA_EXTRACTABLE: false" "CKA_LOCAL: false" \
		"CKA_NEVER_EXTRACTABLE: false" "CKA_SIGN: true" "CKA_DECRYPT: false" \
		"CKA_UNWRAP: false" "CKA_DERIVE: false" \
		"origin: imported, not generated on the token (CKA_LOCAL false)" \
		"verdict: non-exportable"; do
		grep -qx "$want" attest.$l || { cat attest.$l; fail "$l: attestation lacks \"$want\""; }
	done
done
inventory imported
for l in rsa-modern rsa-legacy ec-modern ec-legacy; do
	grep -Eq "^$l +(RSA|EC) .*sensitive=true extractable=false local=false  cert /CN=${l%-*}/O=signerd tests$" \
		imported.list || { cat imported.list; fail "signer token list on $l"; }
done
[ "$(count ' bits  id ' imported.list)" = 4 ] || { cat imported.list; fail "signer token list: not 4 keys"; }
# The CA certificates import-pfx stored, each once, after the keys (no key claims them).
for ca in "signerd test issuing CA" "signerd test root"; do
	[ "$(count "^$ca  *CA cert  id -  subject /CN=$ca  notAfter " imported.list)" = 1 ] ||
		{ cat imported.list; fail "signer token list does not show CA certificate \"$ca\" once"; }
done
[ "$(wc -l <imported.list)" = 6 ] || { cat imported.list; fail "signer token list: not 4 keys and 2 CAs"; }

note "pkcs11-tool agrees"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signerd-test --login --pin "$PIN" \
	--list-objects --type privkey >privkeys 2>&1
[ "$(count '^Private Key Object' privkeys)" = 4 ] || { cat privkeys; fail "not 4 private keys"; }
# Each key's block: the access flags are exactly "sensitive" (not extractable, not local).
for l in rsa-modern rsa-legacy ec-modern ec-legacy; do
	access=$(awk -v l="$l" '/^Private Key Object/ {lab = ""} $1 == "label:" {lab = $2}
		$1 == "Access:" && lab == l {sub(/^ *Access: */, ""); print}' privkeys)
	[ "$access" = "sensitive" ] || { cat privkeys; fail "pkcs11-tool: $l access is \"$access\""; }
done
! grep -q "extractable" privkeys || { cat privkeys; fail "pkcs11-tool sees an extractable key"; }
# Certificates: 4 leaves (one per key, same ID) and each CA once.
[ "$(count '^Certificate Object' imported.p11)" = 6 ] || { cat imported.p11; fail "not 6 certs"; }
[ "$(count '^Public Key Object' imported.p11)" = 4 ] || { cat imported.p11; fail "not 4 pubkeys"; }
for ca in "signerd test issuing CA" "signerd test root"; do
	[ "$(count "label: *$ca\$" imported.p11)" = 1 ] ||
		{ cat imported.p11; fail "CA certificate \"$ca\" is not on the token once"; }
done

note "raw PKCS#11: secret components are CKR_ATTRIBUTE_SENSITIVE; the CA is an authority cert"
if command -v "${CC:-cc}" >/dev/null 2>&1 && pkg-config --exists p11-kit-1; then
	cat >probe.c <<'C'
/* probe MODULE TOKEN PIN: C_GetAttributeValue on every private key's secret
 * components, and every certificate's CKA_CERTIFICATE_CATEGORY. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <p11-kit/pkcs11.h>
static const char *rvs(CK_RV rv)
{
	static char b[32];
	if (rv == CKR_OK)
		return "CKR_OK";
	if (rv == CKR_ATTRIBUTE_SENSITIVE)
		return "CKR_ATTRIBUTE_SENSITIVE";
	snprintf(b, sizeof(b), "0x%lx", (unsigned long)rv);
	return b;
}
static CK_ULONG find(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_OBJECT_CLASS c, CK_OBJECT_HANDLE *h)
{
	CK_ATTRIBUTE t = {CKA_CLASS, &c, sizeof(c)};
	CK_ULONG n = 0;
	if (f->C_FindObjectsInit(s, &t, 1) != CKR_OK || f->C_FindObjects(s, h, 64, &n) != CKR_OK)
		n = 0;
	f->C_FindObjectsFinal(s);
	return n;
}
int main(int argc, char **argv)
{
	static const CK_ATTRIBUTE_TYPE rsa[] = {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2,
						CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT};
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID sl[16];
	CK_ULONG ns = 16, i, j, n;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h[64];
	unsigned char buf[2048];
	void *dl;
	size_t ll;
	if (argc != 4 || (dl = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    gfl(&f) != CKR_OK || f->C_Initialize(NULL) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, sl, &ns) != CKR_OK)
		return 2;
	ll = strlen(argv[2]);
	for (i = 0; i < ns; i++)
		if (f->C_GetTokenInfo(sl[i], &ti) == CKR_OK && ll < 32 &&
		    memcmp(ti.label, argv[2], ll) == 0 && ti.label[ll] == ' ')
			break;
	if (i == ns || f->C_OpenSession(sl[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[3], strlen(argv[3])) != CKR_OK)
		return 2;
	n = find(f, s, CKO_PRIVATE_KEY, h);
	for (i = 0; i < n; i++) {
		char lab[129];
		CK_KEY_TYPE kt;
		CK_ATTRIBUTE a[] = {{CKA_LABEL, lab, 128}, {CKA_KEY_TYPE, &kt, sizeof(kt)}};
		if (f->C_GetAttributeValue(s, h[i], a, 2) != CKR_OK)
			return 2;
		lab[a[0].ulValueLen] = '\0';
		for (j = 0; j < (kt == CKK_EC ? 1 : 6); j++) {
			CK_ATTRIBUTE v = {kt == CKK_EC ? CKA_VALUE : rsa[j], buf, sizeof(buf)};
			printf("%s 0x%lx %s\n", lab, (unsigned long)v.type,
			       rvs(f->C_GetAttributeValue(s, h[i], &v, 1)));
		}
	}
	n = find(f, s, CKO_CERTIFICATE, h);
	for (i = 0; i < n; i++) {
		char lab[129];
		CK_ULONG cat = 99;
		CK_ATTRIBUTE a[] = {{CKA_LABEL, lab, 128}, {CKA_CERTIFICATE_CATEGORY, &cat, sizeof(cat)}};
		CK_RV rv = f->C_GetAttributeValue(s, h[i], a, 2);
		lab[rv == CKR_OK ? a[0].ulValueLen : 0] = '\0';
		printf("cert %s: category %lu\n", lab, (unsigned long)cat);
	}
	f->C_Logout(s);
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
C
	"${CC:-cc}" -o probe probe.c $(pkg-config --cflags p11-kit-1) -ldl ||
		fail "cannot build the PKCS#11 probe"
	./probe "$SOFTHSM_MODULE" signerd-test "$PIN" >probe.out || fail "PKCS#11 probe failed"
	# 2 RSA keys x 6 components + 2 EC keys x CKA_VALUE, every one refused as sensitive.
	[ "$(count ' CKR_ATTRIBUTE_SENSITIVE$' probe.out)" = 14 ] ||
		{ cat probe.out; fail "a secret component is readable"; }
	[ "$(count ' CKR_ATTRIBUTE_SENSITIVE$' probe.out)" = "$(count '^[a-z-]* 0x' probe.out)" ] ||
		{ cat probe.out; fail "a secret component read did not answer CKR_ATTRIBUTE_SENSITIVE"; }
	grep -qx "ec-modern 0x11 CKR_ATTRIBUTE_SENSITIVE" probe.out || { cat probe.out; fail "EC CKA_VALUE"; }
	grep -qx "rsa-legacy 0x123 CKR_ATTRIBUTE_SENSITIVE" probe.out ||
		{ cat probe.out; fail "RSA CKA_PRIVATE_EXPONENT"; }
	grep -qx "cert signerd test issuing CA: category 2" probe.out &&
		grep -qx "cert signerd test root: category 2" probe.out ||
		{ cat probe.out; fail "the CA certificates are not category 2 (authority)"; }
	[ "$(count ': category 2$' probe.out)" = 2 ] || { cat probe.out; fail "authority certificates"; }
else
	echo "no C compiler or p11-kit-1 pkg-config: raw PKCS#11 probe skipped"
fi

note "duplicate label refused, nothing changes"
for f in rsa-modern.pfx ec-legacy.pfx; do
	expect_fail 1 import --label rsa-modern --pass-file pass $f
	grep -q 'a private key labelled "rsa-modern" already exists' "$T/err" ||
		{ cat "$T/err"; fail "duplicate label not refused clearly"; }
done
inventory after-dup
same_inventory imported after-dup "a refused duplicate import"

note "signerd signs with imported keys; osslsigncode verifies against the CA"
write_config "  - name: rsa-modern
    uri: \"pkcs11:token=signerd-test;object=rsa-modern\"
    chain: $T/chain-rsa.pem
    default: true
  - name: rsa-legacy
    uri: \"pkcs11:token=signerd-test;object=rsa-legacy\"
    chain: $T/chain-rsa.pem
  - name: ec-legacy
    uri: \"pkcs11:token=signerd-test;object=ec-legacy\"
    chain: $T/chain-ec.pem" "revocation:
  crl: [ $T/issuing.crl ]"
"$BIN/signerd" --check -c "$T/signerd.yaml" >check || { cat check; fail "--check"; }
daemon_start
mkdir -p in && echo "hello from an imported key" >in/a.txt
(cd in && gcab -c -n "$T/plain.cab" a.txt)
"$BIN/signer" sign-cab -o "$T/signed.cab" "$T/plain.cab"
verify_cab "$T/signed.cab" "$T/root/ca.pem"
grep -q "Subject: /CN=rsa/O=signerd tests" "$T/verify.out" ||
	{ cat "$T/verify.out"; fail "signed.cab is not signed by the imported rsa key"; }
for k in rsa-legacy ec-legacy; do
	"$BIN/signer" sign-cab --key $k -o "$T/$k.cab" "$T/plain.cab"
	verify_cab "$T/$k.cab" "$T/root/ca.pem"
done
# Without the root it must not verify: the trust comes from the PFX's PKI.
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 3 \
	-subj "/CN=unrelated CA" 2>/dev/null
! osslsigncode verify -CAfile "$T/other.pem" -in "$T/signed.cab" >/dev/null 2>&1 ||
	fail "signed.cab verifies against an unrelated CA"
daemon_stop_checked
echo "PASS"
