#!/bin/sh
# Regenerate the PowerShell script fixtures for tests/unit/test_script.c and
# print the known-answer digests that osslsigncode (the independent
# verifier) computes ("Calculated message digest").
#
# usage: make-fixtures.sh [OUTDIR]   (default: the directory of this script)
#
# Needs python3, openssl and osslsigncode (2.9). The unsigned scripts are
# fixed, so the digests printed here do not change between runs; the signed
# ones differ in their signingTime only. The signing key is throwaway: only
# its certificate (cert.pem) is kept, for
# `osslsigncode verify -CAfile cert.pem -in X-signed.ps1`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for t in python3 openssl osslsigncode; do
	command -v "$t" >/dev/null 2>&1 || { echo "missing: $t" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp"
openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 3650 \
	-subj "/CN=signerd script test fixture" -addext "extendedKeyUsage=codeSigning" \
	-addext "keyUsage=critical,digitalSignature" -addext "basicConstraints=CA:FALSE" \
	2>/dev/null
cp c.pem "$out/cert.pem"

python3 - "$out" <<'PY'
import sys
out = sys.argv[1]
intl = 'Write-Host "Gr\u00fc\u00dfe \u2603 \U0001F600"\r\n$x = 1\r\n'
files = {
    "ascii.ps1": b'Write-Host "hello"\r\n$x = 1\r\n',
    "nobom.ps1": intl.encode(),
    "bom.ps1": b"\xef\xbb\xbf" + intl.encode(),
    "u16.ps1": b"\xff\xfe" + intl.encode("utf-16le"),
    "nonl.ps1": b"Write-Host 1",
}
for name, data in files.items():
    open("%s/%s" % (out, name), "wb").write(data)
PY

for f in ascii nobom bom u16 nonl; do
	osslsigncode sign -certs c.pem -key k.pem -h sha256 -in "$out/$f.ps1" \
		-out "$out/$f-signed.ps1" >/dev/null
	for alg in sha1 sha256; do
		osslsigncode sign -certs c.pem -key k.pem -h $alg -in "$out/$f.ps1" -out x.ps1 >/dev/null
		osslsigncode verify -CAfile c.pem -in x.ps1 >v.txt 2>&1
		d=$(sed -n 's/^Calculated message digest : \([0-9A-F]*\).*/\1/p' v.txt | tr A-F a-f)
		echo "$f.ps1 $alg $d"
		rm -f x.ps1
	done
done
