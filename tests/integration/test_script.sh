#!/usr/bin/env bash
# PowerShell script signing end to end: signer sign-script through a real
# signerd (SIGN_SCRIPT), for UTF-8, UTF-8 with a byte-order mark and UTF-16LE
# scripts, .ps1/.psm1/.psd1, with and without an existing signature block
# (ours and osslsigncode's); every output verified by `osslsigncode verify
# -CAfile` and `signer verify-script`, the data OID checked with openssl
# asn1parse; refusals of malformed scripts; the audit record's subject.
BIN=$1
. "$(dirname "$0")/lib.sh"
need python3 iconv
fixture_init
cd "$T"
make_key wsus rsa:2048
make_key ecdsa ec:p256
make_key cp rsa:2048
make_key cabonly rsa:2048
mkdir -p audit
write_config "  - name: wsus
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    certificate: $T/wsus.pem
    default: true
    sign: [ cab, script ]
  - name: ecdsa
    uri: \"pkcs11:token=signerd-test;object=ecdsa\"
    sign: [ script ]
  - name: cabonly
    uri: \"pkcs11:token=signerd-test;object=cabonly\"
  - name: cp
    uri: \"pkcs11:token=signerd-test;object=cp\"
    sign: [ cab, script ]
    state: retired" "audit:
  path: $T/audit/audit.log
  checkpoint_key: cp"
daemon_start
S=$BIN/signer

# The script text of file $1 as UTF-8, whatever its encoding (for grep).
as_text() {
	if [ "$(od -An -tx1 -N 2 "$1" | tr -d ' ')" = fffe ]; then
		iconv -f UTF-16 -t UTF-8 "$1"
	else
		cat "$1"
	fi
}

# verify_script FILE CERT: osslsigncode and signer verify-script accept it, the
# digest osslsigncode recomputes is signer digest-script's, there is one block,
# and the SignedData names script data (1.3.6.1.4.1.311.2.1.30), not CAB data.
verify_script() {
	local f=$1 cert=$2 want
	osslsigncode verify -CAfile "$cert" -in "$f" >"$T/verify.out" 2>&1 ||
		{ cat "$T/verify.out" >&2; fail "osslsigncode verify rejected $f"; }
	qgrep "Signature verification: ok" "$T/verify.out" ||
		{ cat "$T/verify.out" >&2; fail "osslsigncode did not report a good signature for $f"; }
	want=$("$S" digest-script --digest "${ALG:-sha256}" "$f" 2>/dev/null | tr a-f A-F)
	qgrep "Calculated message digest : $want" "$T/verify.out" ||
		{ cat "$T/verify.out" >&2; fail "$f: osslsigncode's digest is not signer digest-script's ($want)"; }
	"$S" verify-script --ca "$cert" "$f" >"$T/sv.out" 2>&1 ||
		{ cat "$T/sv.out" >&2; fail "signer verify-script rejected $f"; }
	[ "$(as_text "$f" | grep -c '^# SIG # Begin signature block')" = 1 ] || fail "$f: not exactly one block"
	[ "$(as_text "$f" | grep -c '^# SIG # End signature block')" = 1 ] || fail "$f: not exactly one end line"
	osslsigncode extract-signature -in "$f" -out "$T/sig.der" >/dev/null 2>&1 ||
		fail "cannot extract the signature of $f"
	openssl asn1parse -inform DER -in "$T/sig.der" >"$T/sig.asn1"
	grep -Eq 'd=7 .*OBJECT *:1\.3\.6\.1\.4\.1\.311\.2\.1\.30$' "$T/sig.asn1" ||
		{ cat "$T/sig.asn1" >&2; fail "$f: no script data OID 1.3.6.1.4.1.311.2.1.30"; }
	qgrep '1F CC 3B 60\|1FCC3B60594B084EB724D2C6297EF351' "$T/sig.asn1" ||
		{ cat "$T/sig.asn1" >&2; fail "$f: no PowerShell SIP GUID"; }
	! qgrep ':1\.3\.6\.1\.4\.1\.311\.2\.1\.25$' "$T/sig.asn1" || fail "$f: a CAB data OID in a script signature"
	grep ' OBJECT ' "$T/sig.asn1" | grep -A1 ':contentType$' | qgrep -E ':1\.3\.6\.1\.4\.1\.311\.2\.1\.4$' ||
		fail "$f: contentType attribute is not SPC_INDIRECT_DATA"
	rm -f "$T/sig.der" "$T/sig.asn1"
}

note "scripts in every encoding"
python3 - "$T" <<'EOF'
import sys
t = sys.argv[1]
ascii_ = 'Write-Host "hello"\r\n$x = 1\r\n'
intl = 'Write-Host "Gr\u00fc\u00dfe aus K\u00f6ln \u2603 \U0001F600"\r\n# \u00e9t\u00e9\r\n$x = 1\r\n'
files = {
    "ascii.ps1": ascii_.encode(),
    "nobom.ps1": intl.encode(),
    "bom.ps1": b"\xef\xbb\xbf" + intl.encode(),
    "u16.ps1": b"\xff\xfe" + intl.encode("utf-16le"),
    "lf.ps1": b"Write-Host 1\n$y = 2\n",
    "nonl.ps1": b"Write-Host 1",
    "module.psm1": b"\xef\xbb\xbf" + "function Get-X { 'x' }\r\nExport-ModuleMember Get-X\r\n".encode(),
    "manifest.psd1": b"\xff\xfe" + "@{ ModuleVersion = '1.0' }\r\n".encode("utf-16le"),
    "UPPER.PS1": b"Write-Host 'upper'\r\n",
}
for name, data in files.items():
    open("%s/%s" % (t, name), "wb").write(data)
EOF
# The digest of the same text is the same with a UTF-8 BOM and in UTF-16LE (both hash U+FEFF).
[ "$("$S" digest-script bom.ps1)" = "$("$S" digest-script u16.ps1)" ] || fail "BOM and UTF-16LE digests differ"
[ "$("$S" digest-script nobom.ps1)" != "$("$S" digest-script bom.ps1)" ] || fail "the BOM is not hashed"
SCRIPTS="ascii.ps1 nobom.ps1 bom.ps1 u16.ps1 lf.ps1 nonl.ps1 module.psm1 manifest.psd1 UPPER.PS1"
for f in $SCRIPTS; do
	"$S" sign-script -o "signed-$f" "$f" 2>"$T/warn"
	verify_script "signed-$f" wsus.pem
	# The script text is kept byte for byte; the block follows in the file's encoding.
	cmp -s -n "$(stat -c %s "$f")" "$f" "signed-$f" || fail "$f: the text changed"
	echo "ok   $f ($(sed -n 's/^structure: ok (\([^,]*\),.*/\1/p' "$T/sv.out"))"
done
# BOM-less UTF-8 with non-ASCII text gets a warning; ASCII and BOM files do not.
"$S" sign-script -o signed-nobom.ps1 nobom.ps1 2>"$T/warn"
qgrep "warning: nobom.ps1 is UTF-8 without a byte-order mark and holds non-ASCII text" "$T/warn" ||
	fail "no warning for BOM-less non-ASCII UTF-8: $(cat "$T/warn")"
for f in ascii.ps1 bom.ps1 u16.ps1; do
	"$S" sign-script -o "signed-$f" "$f" 2>"$T/warn"
	[ ! -s "$T/warn" ] || fail "$f: unexpected message: $(cat "$T/warn")"
done
# The UTF-16LE block is UTF-16LE; the UTF-8 ones are ASCII.
n=$(stat -c %s u16.ps1)
[ "$(od -An -tx1 -j "$n" -N 14 signed-u16.ps1 | tr -d ' \n')" = 0d000a0023002000530049004700 ] ||
	fail "the UTF-16LE script's block is not UTF-16LE"
n=$(stat -c %s bom.ps1)
[ "$(od -An -c -j "$n" -N 34 signed-bom.ps1 | tr -d ' \n')" = '\r\n#SIG#Beginsignatureblock\r\n#' ] ||
	fail "the UTF-8 block does not start with CRLF, the header, CRLF"
# 64 base64 characters per line, CRLF line ends, CRLF at the end.
as_text signed-ascii.ps1 | sed -n '/^# SIG # Begin/,/^# SIG # End/p' | sed '1d;$d' >"$T/b64lines"
[ "$(awk '{ print length($0) }' "$T/b64lines" | sort -u | sed -n '$p')" = 67 ] ||
	fail "block lines are not '# ' + 64 characters + CR"
[ "$(tail -c 2 signed-ascii.ps1 | od -An -tx1 | tr -d ' ')" = 0d0a ] || fail "the block does not end in CRLF"

note "re-signing: our own output, an osslsigncode-signed script, in place"
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -subj "/CN=other" \
	-days 30 -addext extendedKeyUsage=codeSigning 2>/dev/null
for f in ascii.ps1 nobom.ps1 bom.ps1 u16.ps1 lf.ps1 module.psm1 manifest.psd1; do
	"$S" sign-script -o "again-$f" "signed-$f" 2>"$T/note"
	qgrep "replaced the signature block at line" "$T/note" || fail "$f: no note about the replaced block"
	verify_script "again-$f" wsus.pem
	cmp -s -n "$(stat -c %s "$f")" "$f" "again-$f" || fail "$f: re-signing changed the text"
	osslsigncode sign -certs other.pem -key other.key -h sha256 -in "$f" -out "ossl-$f" >/dev/null
	osslsigncode verify -CAfile other.pem -in "ossl-$f" >/dev/null 2>&1 || fail "osslsigncode cannot verify its own $f"
	# Our verifier accepts osslsigncode's signature, then we replace it.
	"$S" verify-script --ca other.pem "ossl-$f" >/dev/null || fail "signer verify-script rejects osslsigncode's $f"
	"$S" sign-script -o "resigned-$f" "ossl-$f" 2>/dev/null
	verify_script "resigned-$f" wsus.pem
	! osslsigncode verify -CAfile other.pem -in "resigned-$f" >/dev/null 2>&1 ||
		fail "$f: osslsigncode's signature survived re-signing"
	# osslsigncode re-signs our output too.
	osslsigncode sign -certs other.pem -key other.key -h sha256 -in "signed-$f" -out "ossl-over-$f" >/dev/null
	osslsigncode verify -CAfile other.pem -in "ossl-over-$f" >/dev/null 2>&1 || fail "osslsigncode cannot re-sign our $f"
	[ "$("$S" digest-script "ossl-over-$f")" = "$("$S" digest-script "$f")" ] || fail "$f: digests differ after osslsigncode re-signed it"
	echo "ok   $f re-signed (ours, osslsigncode's, and osslsigncode over ours)"
done
cp nobom.ps1 inplace.ps1
ln -s inplace.ps1 link.ps1
"$S" sign-script --in-place link.ps1 2>/dev/null
[ -L link.ps1 ] || fail "--in-place replaced the symlink"
verify_script inplace.ps1 wsus.pem
"$S" sign-script --in-place inplace.ps1 2>/dev/null
verify_script inplace.ps1 wsus.pem
[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp')" ] || fail "temporary files left behind"
echo "ok   in place (twice, through a symlink)"

note "digests, opus info, ECDSA"
for alg in sha384 sha512; do
	"$S" sign-script --digest $alg --program "Script $alg" --url "https://scripts.example/$alg" \
		-o "$alg.ps1" u16.ps1
	ALG=$alg verify_script "$alg.ps1" wsus.pem
	grep -qi "Message digest algorithm *: *$alg" "$T/verify.out" || fail "osslsigncode does not report $alg"
	qgrep "Script $alg" "$T/verify.out" || fail "program name missing"
	qgrep "https://scripts.example/$alg" "$T/verify.out" || fail "URL missing"
done
"$S" sign-script --key ecdsa -o ec.ps1 bom.ps1
verify_script ec.ps1 ecdsa.pem
echo "ok   sha384, sha512, program and URL, ECDSA"

note "refusals"
python3 - "$T" <<'EOF'
import sys
t = sys.argv[1]
good = open(t + "/signed-ascii.ps1", "rb").read()
bad = {
    "utf16be": b"\xfe\xff" + "Write-Host 1\r\n".encode("utf-16be"),
    "utf32le": b"\xff\xfe\x00\x00" + "W".encode("utf-32le"),
    "utf32be": b"\x00\x00\xfe\xff" + "W".encode("utf-32be"),
    "invalid": b"Write-Host '\xc3\x28'\r\n",
    "overlong": b"Write-Host '\xc0\xaf'\r\n",
    "odd": b"\xff\xfe" + "Write-Host 1".encode("utf-16le") + b"\x0a",
    "nul": b"Write-Host 1\x00\r\n",
    "u16nul": b"\xff\xfe" + "Write\0".encode("utf-16le"),
    "lonesurrogate": b"\xff\xfe" + b"\x00\xd8" + "x".encode("utf-16le"),
    "empty": b"",
    "noend": good[: good.index(b"# SIG # End")],
    "after": good + b"Write-Host 'after the block'\r\n",
    "badb64": good.replace(b"# MII", b"# M!I", 1),
    "notder": good.split(b"# SIG # Begin")[0] + b"# SIG # Begin signature block\r\n# QUJDRA==\r\n# SIG # End signature block\r\n",
    "onlyblock": good[good.index(b"# SIG # Begin"):],
    "header-more": good.replace(b"signature block\r\n# M", b"signature block extra\r\n# M", 1),
}
for name, data in bad.items():
    open("%s/bad-%s.ps1" % (t, name), "wb").write(data)
EOF
refuse() { # NAME MESSAGE
	expect_fail 1 "$S" sign-script -o "out-$1.ps1" "bad-$1.ps1"
	qgrep -F "$2" "$T/err" || fail "bad-$1.ps1: want \"$2\", got: $(cat "$T/err")"
	[ ! -e "out-$1.ps1" ] || fail "an output was written for bad-$1.ps1"
	expect_fail 1 "$S" digest-script "bad-$1.ps1"
	echo "ok   $1: $(sed 's/^signer: //' "$T/err")"
}
refuse utf16be "UTF-16BE (byte-order mark FE FF)"
refuse utf32le "UTF-32LE (byte-order mark FF FE 00 00)"
refuse utf32be "UTF-32BE"
refuse invalid "invalid UTF-8 at offset 12 (line 1)"
refuse overlong "invalid UTF-8 at offset 12"
refuse odd "odd length cannot be UTF-16"
refuse nul "NUL byte at offset 12 (line 1)"
refuse u16nul "NUL character at offset 12"
refuse lonesurrogate "high surrogate without a low one"
refuse empty "the script is empty"
refuse noend "no \"# SIG # End signature block\" line"
refuse after "text after \"# SIG # End signature block\""
refuse badb64 "holds a character that is not base64"
refuse notder "are not one DER SEQUENCE"
refuse onlyblock "the file starts with a signature block"
refuse header-more "starts with \"# SIG # Begin signature block\" but holds more"
cp ascii.ps1 script.txt
expect_fail 2 "$S" sign-script -o out.txt script.txt
qgrep "not a PowerShell script name (.ps1, .psm1 or .psd1)" "$T/err" || fail "extension message: $(cat "$T/err")"
expect_fail 2 "$S" sign-script ascii.ps1
expect_fail 2 "$S" sign-script -o a.ps1 --in-place ascii.ps1
expect_fail 1 "$S" sign-script --key nope -o out.ps1 ascii.ps1
qgrep "UNKNOWN_KEY" "$T/err" || fail "unknown key: $(cat "$T/err")"
expect_fail 1 "$S" sign-script --key cp -o out.ps1 ascii.ps1
qgrep "KEY_RETIRED" "$T/err" || fail "retired key: $(cat "$T/err")"
# keys[].sign: a key signs CABs only unless it lists script, and the reverse.
expect_fail 1 "$S" sign-script --key cabonly -o out.ps1 ascii.ps1
qgrep -F 'NOT_AUTHORIZED: key "cabonly" does not sign scripts (see keys[].sign)' "$T/err" ||
	fail "a CAB-only key signed a script: $(cat "$T/err")"
tail -n 1 audit/audit.log | qgrep '"key":"cabonly".*"subject":"script".*"result":"refused","code":7' ||
	fail "the refusal was not audited as a script request: $(tail -n 1 audit/audit.log)"
printf 'x\n' >cabonly.txt && make_cab cabonly.cab cabonly.txt
"$S" sign-cab --key cabonly -o cabonly-signed.cab cabonly.cab || fail "the CAB-only key refused a CAB"
expect_fail 1 "$S" sign-cab --key ecdsa -o ecdsa-signed.cab cabonly.cab
qgrep -F 'key "ecdsa" does not sign CABs (see keys[].sign)' "$T/err" || fail "a script-only key signed a CAB: $(cat "$T/err")"
[ ! -e out.ps1 ] || fail "an output was written for a refused signature"
# A modified script fails verification, with the reason.
sed 's/hello/HELLO/' signed-ascii.ps1 >tampered.ps1
expect_fail 1 "$S" verify-script --ca wsus.pem tampered.ps1
qgrep "the script was modified after signing" "$T/out" || fail "tamper message: $(cat "$T/out")"
! osslsigncode verify -CAfile wsus.pem -in tampered.ps1 >/dev/null 2>&1 || fail "osslsigncode accepts a tampered script"
expect_fail 1 "$S" verify-script ascii.ps1
qgrep "the script is not signed" "$T/out" || fail "unsigned message: $(cat "$T/out")"

note "batch: sign-script --out-dir, pipelined on one connection"
mkdir -p batch-out
BATCH="ascii.ps1 nobom.ps1 bom.ps1 u16.ps1 lf.ps1 nonl.ps1 module.psm1 manifest.psd1 UPPER.PS1 signed-bom.ps1"
# shellcheck disable=SC2086
"$S" sign-script --out-dir batch-out $BATCH 2>"$T/batch.err" || { cat "$T/batch.err"; fail "the batch failed"; }
for f in $BATCH; do
	verify_script "batch-out/$f" wsus.pem
	[ "$(stat -c %a "batch-out/$f")" = "$(stat -c %a "$f")" ] || fail "batch-out/$f: mode not kept"
done
cmp -s -n "$(stat -c %s u16.ps1)" u16.ps1 batch-out/u16.ps1 || fail "the batch changed u16.ps1's text"
qgrep "^signer: signed 10 of 10 files into batch-out$" "$T/batch.err" || fail "batch summary: $(cat "$T/batch.err")"
qgrep "warning: nobom.ps1 is UTF-8 without a byte-order mark" "$T/batch.err" || fail "no BOM-less warning in the batch"
qgrep "signed-bom.ps1: replaced the signature block at line" "$T/batch.err" || fail "no replaced-block note in the batch"
echo "ok   10 scripts (UTF-8, UTF-8 with BOM, UTF-16LE, .psm1/.psd1, one already signed) in one batch, all verified"
# One malformed script in a batch: reported, exit 1, the others still written (as sign-cab does).
mkdir -p batch-bad
truncate -s 65M big.ps1
expect_fail 1 "$S" sign-script --out-dir batch-bad ascii.ps1 bad-invalid.ps1 u16.ps1 bad-empty.ps1 big.ps1 bom.ps1
qgrep -F "signer: bad-invalid.ps1: invalid UTF-8 at offset 12" "$T/err" || fail "bad item message: $(cat "$T/err")"
qgrep -F "signer: bad-empty.ps1: the script is empty" "$T/err" || fail "bad item message: $(cat "$T/err")"
qgrep -Fx "signer: big.ps1: file too large (68157440 bytes, limit 67108864)" "$T/err" ||
	fail "too large item message: $(cat "$T/err")"
qgrep "^signer: signed 3 of 6 files into batch-bad$" "$T/err" || fail "batch summary: $(cat "$T/err")"
for f in ascii.ps1 u16.ps1 bom.ps1; do verify_script "batch-bad/$f" wsus.pem; done
for f in bad-invalid.ps1 bad-empty.ps1 big.ps1; do
	[ ! -e "batch-bad/$f" ] || fail "an output was written for $f"
done
rm -f big.ps1
[ -z "$(find batch-out batch-bad -name '.*.tmp')" ] || fail "temporary files left behind"
echo "ok   malformed and oversized scripts in a batch are reported (exit 1), the 3 others are signed"
# Refused before anything is signed (exit 2): two inputs with one basename, a name that is no script.
mkdir -p dup/a dup/b batch-refused
cp ascii.ps1 dup/a/same.ps1 && cp bom.ps1 dup/b/same.ps1
expect_fail 2 "$S" sign-script --out-dir batch-refused dup/a/same.ps1 dup/b/same.ps1
qgrep -F 'two inputs are named "same.ps1": their outputs would collide in --out-dir' "$T/err" ||
	fail "duplicate basename message: $(cat "$T/err")"
expect_fail 2 "$S" sign-script --out-dir batch-refused ascii.ps1 script.txt
qgrep "script.txt: not a PowerShell script name" "$T/err" || fail "extension message: $(cat "$T/err")"
[ -z "$(ls -A batch-refused)" ] || fail "a refused batch wrote $(ls -A batch-refused)"
expect_fail 1 "$S" sign-script --out-dir nowhere ascii.ps1
qgrep "nowhere: not a directory" "$T/err" || fail "missing directory message: $(cat "$T/err")"
expect_fail 2 "$S" sign-script -o one.ps1 ascii.ps1 bom.ps1
qgrep -F -- "-o and --in-place take one FILE; use --out-dir for several" "$T/err" || fail "several files with -o: $(cat "$T/err")"
# The key refuses scripts: every item fails with the server's reason, nothing is written.
expect_fail 1 "$S" sign-script --key cabonly --out-dir batch-refused ascii.ps1 bom.ps1
[ "$(grep -c 'NOT_AUTHORIZED: key "cabonly" does not sign scripts' "$T/err")" = 2 ] ||
	fail "refused batch items: $(cat "$T/err")"
[ -z "$(ls -A batch-refused)" ] || fail "a refused batch wrote $(ls -A batch-refused)"
echo "ok   batch refusals: duplicate basenames, a non-script name, no directory, -o with several files, a refusing key"
if command -v script >/dev/null 2>&1; then
	# On a terminal the batch draws a progress bar on stderr.
	mkdir -p batch-tty
	script -qec "\"$S\" sign-script --out-dir batch-tty ascii.ps1 bom.ps1 u16.ps1" /dev/null >"$T/tty.out" 2>&1 ||
		{ cat "$T/tty.out"; fail "the batch on a terminal failed"; }
	qgrep -F "[##############################] 3/3" "$T/tty.out" || fail "no progress bar: $(cat -v "$T/tty.out")"
	for f in ascii.ps1 bom.ps1 u16.ps1; do verify_script "batch-tty/$f" wsus.pem; done
	echo "ok   progress bar on a terminal"
fi

note "a CAB still gets a CAB signature; a CAB signature is no script signature"
echo "cab payload" >payload.txt
make_cab plain.cab payload.txt
"$S" sign-cab -o plain-signed.cab plain.cab
verify_cab plain-signed.cab wsus.pem
! openssl asn1parse -inform DER -in <(osslsigncode extract-signature -in plain-signed.cab -out /dev/stdout 2>/dev/null) 2>/dev/null |
	qgrep ':1\.3\.6\.1\.4\.1\.311\.2\.1\.30$' || fail "a CAB signature names script data"
# Splice the CAB's PKCS#7 into a script's block: the verifier names the mix-up.
python3 - "$T" <<'EOF'
import base64, struct, sys
t = sys.argv[1]
cab = open(t + "/plain-signed.cab", "rb").read()
cb, = struct.unpack_from("<I", cab, 8)
p7 = cab[cb:]
n = (p7[2] << 8 | p7[3]) + 4 if p7[1] == 0x82 else p7[1] + 2
b64 = base64.b64encode(p7[:n]).decode()
block = "\r\n# SIG # Begin signature block" + "".join("\r\n# " + b64[i:i + 64] for i in range(0, len(b64), 64))
open(t + "/cab-in-script.ps1", "wb").write(open(t + "/ascii.ps1", "rb").read()[:-2] + (block + "\r\n# SIG # End signature block\r\n").encode())
EOF
expect_fail 1 "$S" verify-script --ca wsus.pem cab-in-script.ps1
qgrep "this is a cab signature, not a script signature" "$T/out" || fail "mix-up message: $(cat "$T/out")"
echo "ok   CAB OID on CAB requests; a CAB signature is refused as a script signature"

note "a malformed SIGN_SCRIPT request, and the audit records"
python3 - "$SIGNERD_SOCKET" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack(">IB", 2, 0x20) + b"\x00")
head = s.recv(5, socket.MSG_WAITALL)
n, t = struct.unpack(">IB", head)
body = s.recv(n - 1, socket.MSG_WAITALL)
code, = struct.unpack_from(">I", body)
msg = body[8:].decode()
assert t == 0x7F and code == 1 and msg == "SIGN_SCRIPT: missing key name", (t, code, msg)
print("ok   SIGN_SCRIPT with a 1-byte body: BAD_REQUEST", msg)
EOF
daemon_stop_checked
"$S" audit verify --cert cp.pem audit/audit.log >"$T/averify" || { cat "$T/averify"; fail "audit verify"; }
digest=$("$S" digest-script ascii.ps1)
grep '"type":"sign"' audit/audit.log | grep -F "\"digest\":\"$digest\"" | grep -m1 . >"$T/rec" ||
	fail "no audit record for ascii.ps1's digest"
qgrep -F '"subject":"script"' "$T/rec" || fail "script record: $(cat "$T/rec")"
qgrep -F '"result":"signed"' "$T/rec" || fail "script record not signed: $(cat "$T/rec")"
cabdigest=$("$S" digest-cab plain.cab)
grep -F "\"digest\":\"$cabdigest\"" audit/audit.log | qgrep -F '"subject":"cab"' ||
	fail "the CAB record does not say subject cab"
grep -F '"message":"SIGN_SCRIPT: missing key name"' audit/audit.log | qgrep -F '"subject":"script"' ||
	fail "the malformed SIGN_SCRIPT record does not say subject script"
grep -F '"key":"cp"' audit/audit.log | grep -F '"subject":"script"' | qgrep -F '"error":"KEY_RETIRED"' ||
	fail "the refused script record is missing"
echo "ok   audit: subject script and cab, refusals recorded"
echo "test_script: all passed"
