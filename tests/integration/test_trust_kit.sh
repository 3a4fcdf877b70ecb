#!/usr/bin/env bash
# signer trust-kit: a self-signed key through the real daemon, and a CA-issued
# certificate offline (--cert). Every file is checked against openssl: the DER,
# the thumbprints, the registry Blob decoded byte for byte, the Root store only
# for the self-signed case, and the refusal of a certificate without codeSigning.
BIN=$1
. "$(dirname "$0")/lib.sh"
need python3
fixture_init

# Upper-case hex fingerprint without colons, as Windows shows it.
fp() { openssl x509 -in "$1" -noout -fingerprint "-$2" | sed 's/^[^=]*=//; s/://g'; }

# Every line of a text file ends in CRLF.
assert_crlf() {
	python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); sys.exit(0 if d.endswith(b"\r\n") and d.count(b"\n")==d.count(b"\r\n") else 1)' "$1" ||
		fail "$1 does not use CRLF line endings throughout"
}

# Decode install-trust.reg (UTF-16LE with BOM) and print one line per fact:
#   KEY <key path>
#   BLOB <store> <thumbprint in the key name> <property ids> <SHA1_HASH property, hex>
#   VALUE <name>=<data>
# and write each store's 0x20 property to OUTDIR/<store>.der.
decode_reg() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
raw = open(sys.argv[1], "rb").read()
if raw[:2] != b"\xff\xfe":
    sys.exit("no UTF-16LE byte-order mark")
text = raw[2:].decode("utf-16-le")
if "\n" in text.replace("\r\n", ""):
    sys.exit("bare LF in the .reg file")
lines = text.split("\r\n")
if lines[0] != "Windows Registry Editor Version 5.00":
    sys.exit("bad header: %r" % lines[0])
for l in lines:
    if len(l) > 80 and not l.startswith(("[", ";")):
        sys.exit("line longer than 80 characters: %r" % l)
key, i = None, 1
while i < len(lines):
    l = lines[i]
    i += 1
    if l.startswith("["):
        key = l[1:-1]
        print("KEY " + key)
    elif l.startswith('"Blob"=hex:'):
        h = l[len('"Blob"=hex:'):]
        while h.endswith("\\"):
            nxt = lines[i]
            i += 1
            if not nxt.startswith("  "):
                sys.exit("continuation line without two leading spaces")
            h = h[:-1] + nxt[2:]
        blob = bytes(int(b, 16) for b in h.split(","))
        props, off = [], 0
        while off < len(blob):
            pid, reserved, n = struct.unpack_from("<III", blob, off)
            if reserved != 1:
                sys.exit("property %#x: reserved field %d, not 1" % (pid, reserved))
            off += 12
            if off + n > len(blob):
                sys.exit("property %#x overruns the blob" % pid)
            props.append((pid, blob[off:off + n]))
            off += n
        parts = key.split("\\")
        store, thumb = parts[-3], parts[-1]
        ids = ",".join("%#x" % p for p, _ in props)
        sha1 = [v for p, v in props if p == 3]
        certs = [v for p, v in props if p == 0x20]
        if len(certs) != 1:
            sys.exit("%d certificate properties in %s" % (len(certs), key))
        open("%s/%s.der" % (sys.argv[2], store), "wb").write(certs[0])
        print("BLOB %s %s %s %s" % (store, thumb, ids, sha1[0].hex().upper() if sha1 else "-"))
    elif l.startswith('"'):
        print("VALUE " + l)
PY
}

# check_kit DIR NAME CERT.pem SELF(yes|no)
check_kit() {
	local dir=$1 name=$2 pem=$3 self=$4 sha1 sha256 f want
	for f in "$name.cer" "$name.pem" install-trust.ps1 install-trust.reg README.txt; do
		[ -s "$dir/$f" ] || fail "$dir/$f missing or empty"
	done
	[ "$(ls "$dir" | wc -l)" = 5 ] || { ls -la "$dir"; fail "$dir holds other files"; }
	sha1=$(fp "$pem" sha1)
	sha256=$(fp "$pem" sha256)
	[ ${#sha1} = 40 ] && [ ${#sha256} = 64 ] || fail "openssl fingerprints: $sha1 $sha256"

	# The certificate: DER byte-identical to the original, PEM of the same DER.
	openssl x509 -in "$pem" -outform DER -out "$T/orig.der"
	cmp -s "$dir/$name.cer" "$T/orig.der" || fail "$name.cer is not the DER of $pem"
	openssl x509 -in "$dir/$name.pem" -outform DER -out "$T/kitpem.der"
	cmp -s "$T/kitpem.der" "$T/orig.der" || fail "$name.pem is not the same certificate"

	# README.txt: CRLF, exact thumbprints and self-signed flag.
	assert_crlf "$dir/README.txt"
	tr -d '\r' <"$dir/README.txt" >"$T/readme"
	grep -qx "  SHA-1 thumbprint:    $sha1" "$T/readme" || { cat "$T/readme"; fail "README SHA-1"; }
	grep -qx "  SHA-256 fingerprint: $sha256" "$T/readme" || fail "README SHA-256"
	grep -qx "  Self-signed:         $self" "$T/readme" || fail "README self-signed != $self"
	want=$(openssl x509 -in "$pem" -noout -serial | sed 's/^serial=//')
	grep -qx "  Serial number:       $want" "$T/readme" || fail "README serial != $want"
	grep -q "Allow signed updates from an intranet Microsoft update service location" \
		"$T/readme" || fail "README lacks the GPO setting"
	grep -q "Enable third party software updates" "$T/readme" || fail "README lacks ConfigMgr"
	grep -q "BEFORE any CAB" "$T/readme" || fail "README lacks the trust-before-publish warning"

	# install-trust.ps1: CRLF, the thumbprint, the stores decided at generation time.
	assert_crlf "$dir/install-trust.ps1"
	tr -d '\r' <"$dir/install-trust.ps1" >"$T/ps1"
	grep -qx "\$Thumbprint = '$sha1'" "$T/ps1" || fail "ps1 thumbprint"
	grep -qx "\$CerFile = '$name.cer'" "$T/ps1" || fail "ps1 certificate file"
	grep -q "AcceptTrustedPublisherCerts' -PropertyType DWord -Value 1" "$T/ps1" ||
		fail "ps1 does not set the policy DWORD"
	grep -q "Run as administrator" "$T/ps1" || fail "ps1 does not say it needs elevation"
	if [ "$self" = yes ]; then
		want="\$Stores = @('TrustedPublisher', 'Root')"
	else
		want="\$Stores = @('TrustedPublisher')"
	fi
	grep -qx "$want" "$T/ps1" || { grep Stores "$T/ps1"; fail "ps1 stores, want $want"; }

	# install-trust.reg: exactly these keys and values, and Blobs holding the DER.
	rm -f "$T/TrustedPublisher.der" "$T/ROOT.der"
	decode_reg "$dir/install-trust.reg" "$T" >"$T/reg" || fail "cannot decode install-trust.reg"
	{
		echo "KEY HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SystemCertificates\\TrustedPublisher\\Certificates\\$sha1"
		echo "BLOB TrustedPublisher $sha1 0x3,0x20 $sha1"
		if [ "$self" = yes ]; then
			echo "KEY HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\SystemCertificates\\ROOT\\Certificates\\$sha1"
			echo "BLOB ROOT $sha1 0x3,0x20 $sha1"
		fi
		echo "KEY HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate"
		echo "VALUE \"AcceptTrustedPublisherCerts\"=dword:00000001"
	} >"$T/reg.want"
	diff -u "$T/reg.want" "$T/reg" || fail "install-trust.reg does not hold what it should"
	cmp -s "$T/TrustedPublisher.der" "$T/orig.der" ||
		fail "TrustedPublisher Blob: the 0x20 property is not the certificate's DER"
	if [ "$self" = yes ]; then
		cmp -s "$T/ROOT.der" "$T/orig.der" || fail "ROOT Blob: 0x20 property != DER"
	else
		[ ! -e "$T/ROOT.der" ] || fail "a CA-issued certificate went to ROOT"
	fi
	echo "ok   kit $name ($([ "$self" = yes ] && echo self-signed || echo CA-issued), SHA-1 $sha1)"
}

note "a self-signed key through signerd"
make_key wsus rsa:2048
make_key next rsa:2048
write_config "  - name: wsus
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    certificate: $T/wsus.pem
    default: true
  - name: next
    uri: \"pkcs11:token=signerd-test;object=next\""
daemon_start
"$BIN/signer" trust-kit -o "$T/kit-default/sub" >"$T/out" 2>"$T/err" ||
	{ cat "$T/out" "$T/err"; fail "trust-kit for the default key"; }
[ ! -s "$T/err" ] || { cat "$T/err"; fail "unexpected warning for a 5-year certificate"; }
check_kit "$T/kit-default/sub" wsus "$T/wsus.pem" yes
"$BIN/signer" trust-kit --key next -o "$T/kit-next"
check_kit "$T/kit-next" next "$T/next.pem" yes
# Regenerating over an existing kit replaces the files.
"$BIN/signer" trust-kit --key wsus -o "$T/kit-next" >/dev/null
cmp -s "$T/kit-next/wsus.cer" "$T/kit-default/sub/wsus.cer" || fail "second kit in the same dir"
expect_fail 1 "$BIN/signer" trust-kit --key nope -o "$T/kit-nope"
grep -q "UNKNOWN_KEY" "$T/err" || fail "unknown key message: $(cat "$T/err")"
[ ! -e "$T/kit-nope" ] || fail "a kit directory was created for an unknown key"
daemon_stop_checked

note "a CA-issued certificate, offline"
export SIGNERD_SOCKET=$T/no-daemon.sock
cat >"$T/ca.cnf" <<'EOF'
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[ leaf_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
[ tls_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
[ none_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
EOF
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 3650 \
	-subj "/O=signerd tests/CN=Test Issuing CA" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
# leaf NAME EXT DAYS
leaf() {
	openssl req -new -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.csr" \
		-subj "/O=signerd tests/CN=$1" 2>/dev/null
	openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days "$3" -extfile "$T/ca.cnf" -extensions "$2" -out "$T/$1.pem" 2>/dev/null
}
leaf pki-signer leaf_ext 400
openssl verify -CAfile "$T/ca.pem" -purpose any "$T/pki-signer.pem" >/dev/null || fail "test CA"
"$BIN/signer" trust-kit --cert "$T/pki-signer.pem" -o "$T/kit-ca" >"$T/out" 2>"$T/err" ||
	{ cat "$T/out" "$T/err"; fail "trust-kit --cert"; }
[ ! -s "$T/err" ] || { cat "$T/err"; fail "unexpected warning for a 400-day certificate"; }
check_kit "$T/kit-ca" pki-signer "$T/pki-signer.pem" no
grep -v '^#' "$T/kit-ca/install-trust.ps1" | qgrep -i "'Root'\|LocalMachine.Root" &&
	fail "the CA-issued kit's script touches the Root store"
# The same certificate as DER gives the same kit.
openssl x509 -in "$T/pki-signer.pem" -outform DER -out "$T/pki-signer.der"
"$BIN/signer" trust-kit --cert "$T/pki-signer.der" -o "$T/kit-ca-der" >/dev/null
for f in pki-signer.cer install-trust.ps1 install-trust.reg README.txt; do
	cmp -s "$T/kit-ca/$f" "$T/kit-ca-der/$f" || fail "$f differs between PEM and DER input"
done

note "refusals and warnings"
leaf tls-only tls_ext 400
expect_fail 1 "$BIN/signer" trust-kit --cert "$T/tls-only.pem" -o "$T/kit-tls"
grep -q "codeSigning" "$T/err" || fail "no-codeSigning message: $(cat "$T/err")"
[ ! -e "$T/kit-tls" ] || fail "a kit was written for a certificate without codeSigning"
leaf no-eku none_ext 400
expect_fail 1 "$BIN/signer" trust-kit --cert "$T/no-eku.pem" -o "$T/kit-noeku"
grep -q "codeSigning" "$T/err" || fail "no-EKU message: $(cat "$T/err")"
[ ! -e "$T/kit-noeku" ] || fail "a kit was written for a certificate without any EKU"
leaf short leaf_ext 30
"$BIN/signer" trust-kit --cert "$T/short.pem" -o "$T/kit-short" >"$T/out" 2>"$T/err" ||
	fail "a certificate expiring in 30 days must be accepted (with a warning)"
grep -q "warning: .* expires on .*, in 29 days\|warning: .* expires on .*, in 30 days" "$T/err" ||
	fail "no expiry warning: $(cat "$T/err")"
check_kit "$T/kit-short" short "$T/short.pem" no
head -c 500 /dev/urandom >"$T/junk.pem"
expect_fail 1 "$BIN/signer" trust-kit --cert "$T/junk.pem" -o "$T/kit-junk"
grep -q "not a PEM or DER X.509 certificate" "$T/err" || fail "junk message: $(cat "$T/err")"
expect_fail 1 "$BIN/signer" trust-kit -o "$T/kit-nodaemon"
expect_fail 2 "$BIN/signer" trust-kit --key wsus --cert "$T/pki-signer.pem" -o "$T/x"
expect_fail 2 "$BIN/signer" trust-kit --cert "$T/pki-signer.pem"
expect_fail 2 "$BIN/signer" trust-kit --cert "$T/pki-signer.pem" -o "$T/x" extra
echo "test_trust_kit: all passed"
