#!/bin/sh
# Regenerate the CAB fixtures for tests/unit/test_cab.c and print the
# known-answer digests that osslsigncode (the independent verifier) computes.
#
# usage: make-fixtures.sh [OUTDIR]   (default: the directory of this script)
#
# Needs gcab, openssl and osslsigncode (2.9). The unsigned CABs are
# deterministic (fixed contents and mtimes), so the digests printed here do
# not change between runs; the signed CABs differ in their signingTime only.
# The signing key is throwaway: it is generated in a temporary directory and
# deleted; only its certificate (cert.pem) is kept so the signed fixtures can
# be checked with `osslsigncode verify -CAfile cert.pem -in X-signed.cab`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for t in gcab openssl osslsigncode; do
	command -v "$t" >/dev/null 2>&1 || { echo "missing: $t" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp"

# Throwaway self-signed code-signing certificate.
openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 3650 \
	-subj "/CN=signerd CAB test fixture" -addext "extendedKeyUsage=codeSigning" \
	-addext "keyUsage=critical,digitalSignature" -addext "basicConstraints=CA:FALSE" \
	2>/dev/null

# Deterministic inputs.
printf 'hello world\n' >a.txt
i=0
: >b.txt
while [ $i -lt 40 ]; do
	printf 'line %03d: the quick brown fox jumps over the lazy dog\n' $i >>b.txt
	i=$((i + 1))
done
# 1 KiB of pseudo-random (incompressible) but reproducible bytes.
openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 \
	-nosalt -in /dev/zero 2>/dev/null | head -c 1024 >c.bin
: >empty.txt
touch -d '2024-01-01 00:00:00 UTC' a.txt b.txt c.bin empty.txt

gcab -c -n one.cab a.txt
gcab -c -n multi.cab a.txt b.txt c.bin
gcab -c -n -z zip.cab a.txt b.txt c.bin
gcab -c -n empty.cab empty.txt

digest_of() { # signed-cab
	osslsigncode verify -CAfile c.pem -in "$1" >v.txt 2>&1 || { cat v.txt >&2; exit 1; }
	cur=$(sed -n 's/^Current message digest *: *//p' v.txt | tr -d ' \t\r' | tr 'A-F' 'a-f')
	calc=$(sed -n 's/^Calculated message digest *: *//p' v.txt | tr -d ' \t\r' | tr 'A-F' 'a-f')
	[ -n "$cur" ] && [ "$cur" = "$calc" ] || { echo "digest mismatch in $1" >&2; cat v.txt >&2; exit 1; }
	echo "$calc"
}

for c in one multi zip empty; do
	cp "$c.cab" "$out/$c.cab"
	osslsigncode sign -certs c.pem -key k.pem -h sha256 -in "$c.cab" -out "$c-signed.cab" >/dev/null
	cp "$c-signed.cab" "$out/$c-signed.cab"
	echo "$c sha256 $(digest_of "$c-signed.cab")"
	for h in sha1 sha384 sha512; do
		osslsigncode sign -certs c.pem -key k.pem -h $h -in "$c.cab" -out "$c-$h.cab" >/dev/null
		echo "$c $h $(digest_of "$c-$h.cab")"
	done
done

osslsigncode remove-signature -in one-signed.cab -out one-removed.cab >/dev/null
cp one-removed.cab "$out/one-removed.cab"
cp c.pem "$out/cert.pem"
