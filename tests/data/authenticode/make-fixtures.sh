#!/bin/sh
# Regenerate the osslsigncode interop fixtures used by tests/unit/test_authenticode.c.
#
# Needs: openssl, gcab, osslsigncode (2.9 was used for the committed files).
# The key is a throwaway test key, committed on purpose; it signs nothing else.
#
# Files written next to this script:
#   fixture-key.pem   RSA-2048 private key (throwaway)
#   fixture-cert.pem  self-signed code-signing certificate for it
#   unsigned.cab      tiny gcab cabinet holding hello.txt
#   signed.cab        unsigned.cab signed by osslsigncode (sha256, -n, -i)
#   signed.p7         the DER PKCS#7 extracted from signed.cab
#   signed.digest     upper-case hex "Current message digest" printed by
#                     osslsigncode verify for signed.cab
#   signed.program, signed.url   the -n and -i values (no trailing newline)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

program="signerd fixture"
url="https://example.com/signerd"

cd "$tmp"
printf 'hello signerd\n' >hello.txt
gcab -c -n unsigned.cab hello.txt

openssl req -x509 -newkey rsa:2048 -nodes -keyout fixture-key.pem -out fixture-cert.pem \
	-days 3650 -subj "/CN=signerd authenticode test fixture" \
	-addext "extendedKeyUsage=codeSigning" \
	-addext "keyUsage=critical,digitalSignature" \
	-addext "basicConstraints=critical,CA:FALSE" 2>/dev/null

osslsigncode sign -certs fixture-cert.pem -key fixture-key.pem -h sha256 \
	-n "$program" -i "$url" -in unsigned.cab -out signed.cab >/dev/null
osslsigncode verify -CAfile fixture-cert.pem -in signed.cab >verify.txt
osslsigncode extract-signature -in signed.cab -out signed.p7 >/dev/null

# extract-signature writes DER; make sure of it.
openssl pkcs7 -inform DER -in signed.p7 -noout

sed -n 's/^Current message digest *: *\([0-9A-F]*\).*/\1/p' verify.txt | tr -d '\n' >signed.digest
calc=$(sed -n 's/^Calculated message digest *: *\([0-9A-F]*\).*/\1/p' verify.txt)
[ -n "$(cat signed.digest)" ] && [ "$(cat signed.digest)" = "$calc" ] || {
	echo "osslsigncode verify did not report matching digests" >&2
	cat verify.txt >&2
	exit 1
}
printf '%s' "$program" >signed.program
printf '%s' "$url" >signed.url

cp fixture-key.pem fixture-cert.pem unsigned.cab signed.cab signed.p7 signed.digest \
	signed.program signed.url "$here/"
chmod 0644 "$here/fixture-key.pem"
echo "fixtures written to $here"
