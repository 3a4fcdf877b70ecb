#!/usr/bin/env bash
# A token reached through `p11-kit server` and p11-kit-client.so, as a network
# HSM would be. The server is killed mid-run: signing fails fast with
# TOKEN_UNAVAILABLE, and recovers by itself when the server comes back.
BIN=$1
. "$(dirname "$0")/lib.sh"
CLIENT_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
need p11-kit timeout setsid
[ -e "$CLIENT_MODULE" ] || skip "p11-kit-client.so not installed"
fixture_init
cd "$T"
make_key k rsa:2048
SERVER=
server_start() {
	rm -f "$T/p11.sock"
	# Its own process group: the per-connection p11-kit-remote children die with it.
	setsid p11-kit server -f --provider "$SOFTHSM_MODULE" -n "$T/p11.sock" \
		"pkcs11:token=signerd-test" >>"$T/server.log" 2>&1 &
	SERVER=$!
	for _ in $(seq 1 50); do [ -S "$T/p11.sock" ] && return 0; sleep 0.1; done
	fail "p11-kit server did not start"
}
server_stop() {
	[ -n "$SERVER" ] || return 0
	kill -KILL -- "-$SERVER" 2>/dev/null || kill -KILL "$SERVER" 2>/dev/null || true
	wait "$SERVER" 2>/dev/null || true
	SERVER=
}
EXTRA_CLEANUP=server_stop
server_start
export P11_KIT_SERVER_ADDRESS="unix:path=$T/p11.sock"
write_config "  - name: k
    uri: \"pkcs11:token=signerd-test;object=k\"
    certificate: $T/k.pem"
sed -i "s|  module: .*|  module: $CLIENT_MODULE|" signerd.yaml
daemon_start
echo hi >a.txt && gcab -c -n a.cab a.txt

note "signing through the remote token"
"$BIN/signer" sign-cab -o r1.cab a.cab
verify_cab r1.cab k.pem

note "the server dies: signing fails fast"
server_stop
rc=0
timeout 20 "$BIN/signer" sign-cab -o r2.cab a.cab >out.txt 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat out.txt; fail "expected a refusal (exit 1), got $rc"; }
grep -q TOKEN_UNAVAILABLE out.txt || { cat out.txt; fail "expected TOKEN_UNAVAILABLE"; }
echo "ok   refused: $(cat out.txt)"
# While it is down, requests keep failing fast (no queueing behind the reconnect loop).
timeout 5 "$BIN/signer" sign-cab -o r3.cab a.cab >out.txt 2>&1 && fail "signed with no token"
grep -q TOKEN_UNAVAILABLE out.txt || { cat out.txt; fail "expected TOKEN_UNAVAILABLE while down"; }
"$BIN/signer" status | qgrep "token_state: down" || { "$BIN/signer" status; fail "STATUS does not show the token down"; }

note "the server comes back: signerd recovers by itself"
server_start
ok=
for _ in $(seq 1 60); do
	if "$BIN/signer" sign-cab -o r4.cab a.cab >/dev/null 2>&1; then ok=1; break; fi
	sleep 0.5
done
[ -n "$ok" ] || { tail -20 signerd.log; fail "signing did not recover after the server came back"; }
verify_cab r4.cab k.pem
grep -q "re-initialised and logged in" signerd.log || fail "no recovery logged"
"$BIN/signer" status | qgrep "token_state: logged-in" || fail "STATUS does not show the token back"
echo "ok   recovered without a restart"
daemon_stop_checked
echo "test_remote_token: all passed"
