#!/usr/bin/env bash
# The core story: a non-extractable SoftHSM2 key, the real daemon, CABs of
# every shape signed by `signer sign-cab`, each accepted by osslsigncode.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init

note "key generation and attestation"
make_key wsus rsa:2048
"$BIN/signer" token attest "${TOKEN_ARGS[@]}" --label wsus >"$T/attest"
for want in "CKA_SENSITIVE: true" "CKA_ALWAYS_SENSITIVE: true" "CKA_EXTRACTABLE: false" \
	"CKA_NEVER_EXTRACTABLE: true" "CKA_LOCAL: true" "CKA_SIGN: true" "CKA_DECRYPT: false" \
	"CKA_UNWRAP: false" "CKA_DERIVE: false" "verdict: non-exportable"; do
	grep -qx "$want" "$T/attest" || { cat "$T/attest"; fail "attestation lacks \"$want\""; }
done
# An independent reader of the same attributes: OpenSC's pkcs11-tool.
if command -v pkcs11-tool >/dev/null; then
	pkcs11-tool --module "$SOFTHSM_MODULE" --token-label signerd-test --login \
		--pin "$(cat "$T/pin")" --list-objects --type privkey >"$T/p11tool" 2>&1
	grep -q "Access:.*sensitive, always sensitive, never extractable, local" "$T/p11tool" ||
		{ cat "$T/p11tool"; fail "pkcs11-tool does not see a sensitive, never-extractable key"; }
fi
# The certificate: code signing, digitalSignature, CA:FALSE, 5 years, signed by the token key.
openssl x509 -in "$T/wsus.pem" -noout -text >"$T/cert.txt"
grep -q "Code Signing" "$T/cert.txt" || fail "no codeSigning EKU"
grep -q "Digital Signature" "$T/cert.txt" || fail "no digitalSignature key usage"
grep -q "CA:FALSE" "$T/cert.txt" || fail "no CA:FALSE"
openssl verify -CAfile "$T/wsus.pem" "$T/wsus.pem" >/dev/null || fail "certificate self-signature"
expect_fail 1 "$BIN/signer" token keygen "${TOKEN_ARGS[@]}" --label wsus
grep -q "already exists" "$T/err" || fail "duplicate label not refused clearly"
make_key retired rsa:2048
make_key ecdsa ec:p256

write_config "  - name: wsus
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    certificate: $T/wsus.pem
    default: true
  - name: ecdsa
    uri: \"pkcs11:token=signerd-test;object=ecdsa\"
  - name: retired
    uri: \"pkcs11:token=signerd-test;object=retired\"
    state: retired" "limits:
  request_timeout: 1s
  max_connections_per_uid: 200 # hostile_client holds 100 idle ones as the same uid"
"$BIN/signerd" --check -c "$T/signerd.yaml" >"$T/check" || { cat "$T/check"; fail "--check"; }
grep -q "key wsus (default): active" "$T/check" || { cat "$T/check"; fail "--check summary"; }
grep -q "key wsus (default): .*revocation not-applicable" "$T/check" ||
	{ cat "$T/check"; fail "a self-signed key must show revocation not-applicable"; }
daemon_start

note "CABs of every shape"
mkdir -p "$T/in" && cd "$T/in"
echo "hello wsus" >a.txt
printf 'second file\n' >b.txt
: >empty.bin
head -c 4000000 /dev/urandom >big.bin
make_cab "$T/plain.cab" a.txt
GCAB_OPTS=-z make_cab "$T/zip.cab" a.txt b.txt big.bin
make_cab "$T/multi.cab" a.txt b.txt
make_cab "$T/empty.cab" empty.bin
make_cab "$T/big.cab" big.bin
cd "$T"
for c in plain zip multi empty big; do
	"$BIN/signer" sign-cab -o "$T/$c-signed.cab" "$T/$c.cab"
	verify_cab "$T/$c-signed.cab" "$T/wsus.pem"
	echo "ok   $c.cab"
done

# Without an audit log, each signature leaves an info line.
qgrep "signed cab sha256 digest [0-9a-f]* with key \"wsus\" for uid 0" "$T/signerd.log" ||
	fail "no per-signature info line without the audit log"

note "digest algorithms and opus info"
for alg in sha256 sha384 sha512; do
	"$BIN/signer" sign-cab --digest $alg --program "Update for KB$alg" \
		--url "https://updates.example/kb" -o "$T/plain-$alg.cab" "$T/plain.cab"
	verify_cab "$T/plain-$alg.cab" "$T/wsus.pem"
	grep -qi "$alg" "$T/verify.out" || fail "$alg not reported by osslsigncode"
done
grep -q "Update for KBsha512" <(osslsigncode verify -CAfile "$T/wsus.pem" -in "$T/plain-sha512.cab" 2>&1) ||
	fail "program name not visible to osslsigncode"

note "an ECDSA key signs too (WSUS wants RSA)"
"$BIN/signer" cert --key ecdsa --pem -o "$T/ecdsa.pem"
"$BIN/signer" sign-cab --key ecdsa -o "$T/ec.cab" "$T/plain.cab"
verify_cab "$T/ec.cab" "$T/ecdsa.pem"

note "re-signing a CAB signed by osslsigncode, and one it stripped"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/other.key" -out "$T/other.pem" \
	-subj "/CN=other" -days 30 -addext extendedKeyUsage=codeSigning 2>/dev/null
osslsigncode sign -certs "$T/other.pem" -key "$T/other.key" -h sha256 -in "$T/multi.cab" \
	-out "$T/by-ossl.cab" >/dev/null
"$BIN/signer" sign-cab -o "$T/resigned.cab" "$T/by-ossl.cab"
verify_cab "$T/resigned.cab" "$T/wsus.pem"
osslsigncode remove-signature -in "$T/by-ossl.cab" -out "$T/stripped.cab" >/dev/null
cmp -s "$T/stripped.cab" "$T/multi.cab" || fail "remove-signature did not restore the original"
"$BIN/signer" sign-cab -o "$T/stripped-signed.cab" "$T/stripped.cab"
verify_cab "$T/stripped-signed.cab" "$T/wsus.pem"
# Re-signing our own output works too.
"$BIN/signer" sign-cab -o "$T/twice.cab" "$T/plain-signed.cab"
verify_cab "$T/twice.cab" "$T/wsus.pem"

note "digest-cab agrees with osslsigncode"
bash "$HERE/cab_digest_vs_osslsigncode.sh" "$BIN/signer" digest-cab

note "in place and batch"
cp "$T/multi.cab" "$T/inplace.cab"
"$BIN/signer" sign-cab --in-place "$T/inplace.cab"
verify_cab "$T/inplace.cab" "$T/wsus.pem"
mkdir -p "$T/batch-in" "$T/batch-out"
for i in $(seq 1 30); do
	echo "payload $i" >"$T/in/p$i.txt"
	(cd "$T/in" && gcab -c -n "$T/batch-in/u$i.cab" "p$i.txt")
done
"$BIN/signer" sign-cab --out-dir "$T/batch-out" "$T"/batch-in/*.cab
for i in $(seq 1 30); do verify_cab "$T/batch-out/u$i.cab" "$T/wsus.pem"; done
"$BIN/signer" verify-cab --ca "$T/wsus.pem" "$T/batch-out/u7.cab" >/dev/null ||
	fail "signer verify-cab rejects a good CAB"

note "many concurrent clients"
pids=()
for c in $(seq 1 8); do
	mkdir -p "$T/conc$c"
	"$BIN/signer" sign-cab --out-dir "$T/conc$c" "$T"/batch-in/u{1..10}.cab >"$T/conc$c.log" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent client failed: $(cat "$T"/conc*.log)"; done
for c in $(seq 1 8); do
	for i in $(seq 1 10); do verify_cab "$T/conc$c/u$i.cab" "$T/wsus.pem"; done
done
echo "ok   8 concurrent batch clients, 80 CABs, all verified"

note "refusals"
head -c 300 /dev/urandom >"$T/junk.cab"
expect_fail 1 "$BIN/signer" sign-cab -o "$T/junk-out.cab" "$T/junk.cab"
[ ! -e "$T/junk-out.cab" ] || fail "an output was written for a malformed CAB"
grep -qi "cab" "$T/err" || fail "malformed CAB message: $(cat "$T/err")"
# In a batch the malformed CAB is reported (exit 1) and the others are still signed.
mkdir -p "$T/batch-bad"
expect_fail 1 "$BIN/signer" sign-cab --out-dir "$T/batch-bad" "$T/batch-in/u1.cab" "$T/junk.cab" "$T/batch-in/u2.cab"
qgrep -F "signer: $T/junk.cab: " "$T/err" || fail "the bad item is not named: $(cat "$T/err")"
qgrep "signed 2 of 3 files into" "$T/err" || fail "batch summary: $(cat "$T/err")"
verify_cab "$T/batch-bad/u1.cab" "$T/wsus.pem"
verify_cab "$T/batch-bad/u2.cab" "$T/wsus.pem"
[ ! -e "$T/batch-bad/junk.cab" ] || fail "an output was written for a malformed CAB in a batch"
echo "ok   a malformed CAB in a batch is reported (exit 1), the 2 others are signed"
cp "$T/plain-signed.cab" "$T/tampered.cab"
printf 'X' | dd of="$T/tampered.cab" bs=1 seek=70 conv=notrunc 2>/dev/null
expect_fail 1 "$BIN/signer" verify-cab --ca "$T/wsus.pem" "$T/tampered.cab"
! osslsigncode verify -CAfile "$T/wsus.pem" -in "$T/tampered.cab" >/dev/null 2>&1 ||
	fail "osslsigncode accepted a tampered CAB (the test is broken)"
expect_fail 1 "$BIN/signer" sign-cab --key retired -o "$T/r.cab" "$T/plain.cab"
grep -q "KEY_RETIRED\|retired" "$T/err" || fail "retired key message: $(cat "$T/err")"
expect_fail 1 "$BIN/signer" sign-cab --key nope -o "$T/r.cab" "$T/plain.cab"
expect_fail 1 "$BIN/signer" sign-cab --digest sha1 -o "$T/r.cab" "$T/plain.cab"
expect_fail 2 "$BIN/signer" sign-cab "$T/plain.cab"

note "cert, keys, status"
"$BIN/signer" cert --der -o "$T/wsus.der"
openssl x509 -inform DER -in "$T/wsus.der" -noout -fingerprint -sha1 >/dev/null ||
	fail "signer cert --der"
cmp -s <(openssl x509 -in "$T/wsus.pem" -outform DER) "$T/wsus.der" || fail "GET_CERT differs"
"$BIN/signer" keys >"$T/keys"
grep -q "wsus" "$T/keys" && grep -q "retired" "$T/keys" || { cat "$T/keys"; fail "signer keys"; }
"$BIN/signer" status >"$T/status"
grep -q "signatures:" "$T/status" || { cat "$T/status"; fail "signer status"; }

note "hostile clients"
"$BIN/hostile_client" "$T/signerd.sock" "$DAEMON_PID"
# The 200 pipelined requests on one connection were signed in parallel across the
# 2 sessions: a serial implementation never has two signatures in progress.
peak=$("$BIN/signer" status | sed -n 's/^parallel_peak: //p')
[ "${peak:-0}" -ge 2 ] || fail "pipelined requests were not signed in parallel (peak $peak)"
echo "ok   pipelined requests signed in parallel (peak $peak workers)"
daemon_stop_checked
echo "test_sign: all passed"
