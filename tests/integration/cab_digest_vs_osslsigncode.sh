#!/bin/sh
# Cross-check a CAB digest command against osslsigncode (the independent
# verifier). The command given as arguments is run with one more argument,
# the CAB path, and must print the SHA-256 Authenticode digest in hex.
#
# usage: cab_digest_vs_osslsigncode.sh COMMAND [ARGS...]
#   e.g. cab_digest_vs_osslsigncode.sh /path/to/signer digest-cab
#
# For each generated CAB (one small file, several files, MSZIP-compressed, a
# 0-byte file, several MB of random data uncompressed and compressed, many
# files), the CAB is signed with osslsigncode and the command's output for
# both the unsigned and the signed file must equal the digest that
# `osslsigncode verify` calculates. Exit 0 pass, 1 fail, 77 skip (gcab,
# openssl or osslsigncode missing), 2 usage.
set -u

if [ $# -lt 1 ]; then
	echo "usage: $0 COMMAND [ARGS...]" >&2
	exit 2
fi
for t in gcab osslsigncode openssl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: $t not installed"
		exit 77
	fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0

if ! openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/k.pem" -out "$tmp/c.pem" \
	-days 2 -subj "/CN=cab digest cross-check" -addext "extendedKeyUsage=codeSigning" \
	>/dev/null 2>&1; then
	echo "FAIL: cannot create a test certificate" >&2
	exit 1
fi

mkdir "$tmp/in"
printf 'hello world\n' >"$tmp/in/a.txt"
seq 1 2000 >"$tmp/in/b.txt"
: >"$tmp/in/empty.txt"
head -c 1536 /dev/urandom >"$tmp/in/c.bin"
head -c 5000000 /dev/urandom >"$tmp/in/big.bin"
mkdir "$tmp/in/many"
i=0
while [ $i -lt 150 ]; do
	printf 'file %d\n' $i >"$tmp/in/many/f$i.txt"
	i=$((i + 1))
done

# make_cab NAME [gcab options] CAB FILES... (run in $tmp/in)
make_cab() {
	mk_name=$1
	shift
	(cd "$tmp/in" && gcab -c -n "$@") >/dev/null 2>&1 || {
		echo "FAIL: gcab could not create $mk_name" >&2
		fail=1
		return 1
	}
}

# osslsigncode's digest of a signed CAB, lower-case hex.
verifier_digest() {
	osslsigncode verify -CAfile "$tmp/c.pem" -in "$1" >"$tmp/v.txt" 2>&1 || {
		echo "FAIL: osslsigncode verify $1" >&2
		cat "$tmp/v.txt" >&2
		return 1
	}
	sed -n 's/^Calculated message digest *: *//p' "$tmp/v.txt" | tr -d ' \t\r' |
		tr 'A-F' 'a-f'
}

# The command's digest: the first 64-character hex run in its output.
command_digest() {
	out=$("$@" 2>"$tmp/cmd.err") || {
		echo "FAIL: '$*' exited with an error:" >&2
		cat "$tmp/cmd.err" >&2
		return 1
	}
	printf '%s\n' "$out" | grep -oiE '[0-9a-f]{64}' | sed -n 1p | tr 'A-F' 'a-f'
}

# check NAME COMMAND...
check() {
	cab="$tmp/$1.cab"
	signed="$tmp/$1-signed.cab"
	shift
	if ! osslsigncode sign -certs "$tmp/c.pem" -key "$tmp/k.pem" -h sha256 -in "$cab" \
		-out "$signed" >"$tmp/s.txt" 2>&1; then
		echo "FAIL: osslsigncode sign $cab" >&2
		cat "$tmp/s.txt" >&2
		fail=1
		return
	fi
	want=$(verifier_digest "$signed") || { fail=1; return; }
	if [ -z "$want" ]; then
		echo "FAIL: no digest in osslsigncode verify output for $signed" >&2
		fail=1
		return
	fi
	for f in "$cab" "$signed"; do
		got=$(command_digest "$@" "$f") || { fail=1; continue; }
		if [ "$got" = "$want" ]; then
			echo "ok   $(basename "$f") $(wc -c <"$f" | tr -d ' ') bytes $got"
		else
			echo "FAIL $(basename "$f"): got '$got', osslsigncode says $want" >&2
			fail=1
		fi
	done
}

make_cab one "$tmp/one.cab" a.txt
make_cab multi "$tmp/multi.cab" a.txt b.txt c.bin
make_cab zip -z "$tmp/zip.cab" a.txt b.txt c.bin
make_cab empty "$tmp/empty.cab" empty.txt
make_cab big "$tmp/big.cab" big.bin b.txt
make_cab bigzip -z "$tmp/bigzip.cab" big.bin b.txt
many_files=$(cd "$tmp/in" && echo many/*.txt)
# shellcheck disable=SC2086 # file names without spaces, split on purpose
make_cab many "$tmp/many.cab" $many_files

for name in one multi zip empty big bigzip many; do
	[ -f "$tmp/$name.cab" ] && check "$name" "$@"
done

if [ $fail -ne 0 ]; then
	echo "FAIL: digest differs from osslsigncode (or a step failed)" >&2
	exit 1
fi
echo "PASS"
exit 0
