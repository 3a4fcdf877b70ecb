#!/usr/bin/env bash
# Key rotation with no downtime: SIGHUPs that switch the default key while
# clients are signing lose no request, and a retired key stays listed and
# served by GET_CERT but refuses to sign.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init
cd "$T"
for k in k1 k2 k3; do make_key $k rsa:2048; done
cat k1.pem k2.pem k3.pem >all.pem
cfg() { # DEFAULT [RETIRED]
	local k out=""
	for k in k1 k2 k3; do
		out+="  - name: $k
    uri: \"pkcs11:token=signerd-test;object=$k\"
"
		[ "$k" != "$1" ] || out+="    default: true
"
		[ "$k" != "${2:-}" ] || out+="    state: retired
"
	done
	write_config "$out"
}
cfg k1
daemon_start

note "SIGHUPs switch the default key under load"
mkdir -p in signed
echo payload >in/p.txt
for i in $(seq 1 60); do (cd in && gcab -c -n "$T/in/c$i.cab" p.txt); done
"$BIN/load_client" "$T/signerd.sock" 4 400 16 >load.txt 2>&1 &
load=$!
"$BIN/signer" sign-cab --out-dir signed in/*.cab >batch.txt 2>&1 &
batch=$!
for d in k2 k3 k1 k2 k3 k2; do
	sleep 0.25
	cfg $d
	kill -HUP "$DAEMON_PID"
done
wait $load || { cat load.txt; fail "requests were lost or failed across the reloads"; }
wait $batch || { cat batch.txt; fail "the batch failed across the reloads"; }
cat batch.txt
cat load.txt
signers=$(grep -c '^signer ' load.txt)
[ "$signers" -ge 2 ] || fail "the load saw only $signers signing key(s): the default never switched under load"
for i in $(seq 1 60); do verify_cab "signed/c$i.cab" all.pem; done
reloads=$(grep -c 'reloaded: 3 keys' signerd.log)
[ "$reloads" = 6 ] || fail "expected 6 reloads, saw $reloads"
echo "ok   1600 pipelined + 60 batch signatures across 6 default-key switches, none lost"

note "retiring a key"
# The switches above already logged 'default "k2"' three times: wait for one more.
before=$(grep -c 'reloaded: 3 keys, default "k2"' signerd.log)
cfg k2 k1
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do
	[ "$(grep -c 'reloaded: 3 keys, default "k2"' signerd.log)" -gt "$before" ] && break
	sleep 0.1
done
[ "$(grep -c 'reloaded: 3 keys, default "k2"' signerd.log)" -gt "$before" ] || fail "the reload that retires k1 was not logged"
expect_fail 1 "$BIN/signer" sign-cab --key k1 -o r.cab in/c1.cab
grep -q KEY_RETIRED "$T/err" || fail "retired key: $(cat "$T/err")"
"$BIN/signer" cert --key k1 -o k1-served.pem
cmp -s <(openssl x509 -in k1.pem -outform DER) <(openssl x509 -in k1-served.pem -outform DER) ||
	fail "GET_CERT no longer serves the retired key's certificate"
"$BIN/signer" keys | qgrep -E '^k1 +retired' || { "$BIN/signer" keys; fail "keys does not show k1 retired"; }
"$BIN/signer" sign-cab -o d.cab in/c1.cab
verify_cab d.cab k2.pem
echo "ok   retired k1: listed, certificate served, signing refused; default k2 signs"
daemon_stop_checked
echo "test_rotation: all passed"
