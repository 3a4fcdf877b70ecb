#!/usr/bin/env bash
# Token faults injected under a running signerd with the p11shim module:
# invalid sessions are reopened, a logged-out token is logged in again once,
# device errors take the token down and it recovers in the background (also
# with an empty slot list for a while), a refused PIN is never retried,
# requests in flight during a reset never crash the daemon, and keys with
# CKA_ALWAYS_AUTHENTICATE sign without a terminal prompt.
BIN=$1
. "$(dirname "$0")/lib.sh"
SHIM=$(cd "$BIN/../lib" 2>/dev/null && pwd)/libp11shim.so
[ -e "$SHIM" ] || skip "libp11shim.so not built"
fixture_init
cd "$T"
make_key k rsa:2048
"$BIN/signer" token keygen "${TOKEN_ARGS[@]}" --label aa --type rsa:2048 --always-authenticate \
	--self-signed --subject "CN=always-auth" -o aa.pem >/dev/null
export P11SHIM_MODULE=$SOFTHSM_MODULE P11SHIM_CONTROL=$T/shim.ctl
ctl() { printf '%s\n' "stats $T/stats" "$@" >"$T/shim.ctl.tmp" && mv -f "$T/shim.ctl.tmp" "$T/shim.ctl"; }
calls() { ctl "$@"; sleep 0.05; }
count() { awk -v f="$1" '$1 == f { n = $2 } END { print n + 0 }' "$T/stats"; }
# The shim writes its counts on the first call after a control-file change, and
# at C_Finalize: rewrite the file, then make one harmless call.
snapshot() { ctl; sleep 0.05; sign -o snap.cab >/dev/null; }
ctl
write_config "  - name: k
    uri: \"pkcs11:token=signerd-test;object=k\"
    default: true
  - name: aa
    uri: \"pkcs11:token=signerd-test;object=aa\"" "limits:
  request_timeout: 2s
admin:
  path: $T/admin.sock"
sed -i "s|  module: .*|  module: $SHIM\n  allowed_modules: [ $(dirname "$SHIM")/ ]|" signerd.yaml
EXTRA_CLEANUP=ctl # never leave a hang in place at teardown
daemon_start
echo hi >a.txt && gcab -c -n a.cab a.txt
sign() { "$BIN/signer" sign-cab "$@" a.cab; }
wait_sign() { # poll until signing works again
	local i
	for i in $(seq 1 60); do sign -o w.cab >/dev/null 2>&1 && return 0; sleep 0.25; done
	tail -n 20 signerd.log
	fail "signing did not recover"
}

note "an invalid session is reopened and the request still signs"
ctl "C_Sign CKR_SESSION_HANDLE_INVALID close_session count=1"
sign -o s1.cab && verify_cab s1.cab k.pem
grep -q "was invalid; reopened" signerd.log || fail "no session reopen logged"

note "a logged-out token is logged in again, once"
ctl "C_Sign CKR_USER_NOT_LOGGED_IN count=1"
sign -o s2.cab && verify_cab s2.cab k.pem
grep -q "logging in again" signerd.log || fail "no re-login logged"

note "a device error takes the token down; it re-initialises by itself"
ctl "C_Sign CKR_DEVICE_ERROR reset count=1" "C_GetSlotList empty count=4"
expect_fail 1 sign -o s3.cab
grep -q TOKEN_UNAVAILABLE "$T/err" || fail "want TOKEN_UNAVAILABLE, got: $(cat "$T/err")"
wait_sign
grep -q "re-initialised and logged in" signerd.log || fail "no recovery logged"
"$BIN/signer" status | qgrep "token_state: logged-in" || fail "STATUS after recovery"
echo "ok   recovered after a reset and an empty slot list"

note "while every call fails, requests fail fast"
ctl "* CKR_DEVICE_REMOVED always"
for i in 1 2 3; do
	expect_fail 1 sign -o f$i.cab
	grep -q TOKEN_UNAVAILABLE "$T/err" || fail "want TOKEN_UNAVAILABLE, got: $(cat "$T/err")"
done
"$BIN/signer" status | qgrep "token_state: down" || fail "STATUS does not show the token down"
ctl
wait_sign
echo "ok   refused fast while down, recovered when the token came back"

note "a reset under load: requests in flight never crash the daemon"
"$BIN/load_client" "$T/signerd.sock" 4 200 16 >load.txt 2>&1 &
load=$!
sleep 0.2
ctl "C_Sign CKR_DEVICE_ERROR reset count=1"
wait $load || true
grep -q "requests ok:" load.txt || { cat load.txt; fail "the load client did not finish"; }
kill -0 "$DAEMON_PID" || fail "signerd died under a reset with requests in flight"
ctl
wait_sign
echo "ok   $(grep 'requests' load.txt | tr '\n' ' ')"

note "CKA_ALWAYS_AUTHENTICATE: a context-specific login per signature, no prompt"
snapshot
before=$(count C_Login)
for i in 1 2 3; do sign --key aa -o aa$i.cab </dev/null && verify_cab aa$i.cab aa.pem; done
snapshot
after=$(count C_Login)
[ $((after - before)) -ge 3 ] || fail "expected a context-specific login per signature ($before -> $after)"
"$BIN/signer" token attest "${TOKEN_ARGS[@]}" --label aa | qgrep -x "CKA_ALWAYS_AUTHENTICATE: true" ||
	fail "the key is not CKA_ALWAYS_AUTHENTICATE"
echo "ok   3 signatures, $((after - before)) context-specific logins"

note "a token that never answers: other clients are still served"
ctl "C_Sign hang"
sign -o h.cab >hang.txt 2>&1 &
hung=$!
sleep 0.5
"$BIN/signer" status >/dev/null || fail "STATUS not answered while a C_Sign hangs"
ctl
wait $hung || { cat hang.txt; fail "the hung request failed after release"; }
verify_cab h.cab k.pem
echo "ok   loop kept serving during a hung C_Sign; the request completed once released"

note "a reload stuck in the token does not stall the loop"
# Loading a generation looks keys up (C_FindObjectsInit); signing does not.
ctl "C_FindObjectsInit hang"
kill -HUP "$DAEMON_PID"
SIGNERD_ADMIN_SOCKET=$T/admin.sock "$BIN/signer" admin reload >areload.txt 2>&1 &
areload=$!
sleep 0.5
timeout 5 "$BIN/signer" status | qgrep "token_state: logged-in" ||
	fail "STATUS not answered while a reload hangs in the token"
timeout 5 "$BIN/signer" sign-cab -o r1.cab a.cab || fail "signing stalled while a reload hangs"
verify_cab r1.cab k.pem
kill -0 "$areload" 2>/dev/null || { cat areload.txt; fail "admin reload answered before the token did"; }
ctl
wait "$areload" || { cat areload.txt; fail "admin reload failed once the token answered"; }
qgrep reloaded areload.txt || { cat areload.txt; fail "admin reload: no ok"; }
for i in $(seq 1 40); do
	[ "$(grep -c 'reloaded:' signerd.log)" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c 'reloaded:' signerd.log)" -ge 2 ] || fail "the SIGHUP and admin reloads did not both finish"
echo "ok   STATUS and signing served during a hung reload; both reloads finished after"

note "a refused PIN is never retried"
snapshot
before=$(count C_Login)
ctl "C_Login CKR_PIN_INCORRECT always" "C_Sign CKR_DEVICE_ERROR reset count=1"
expect_fail 1 sign -o p1.cab
sleep 2
expect_fail 1 sign -o p2.cab
grep -q "not retrying" signerd.log || fail "the PIN refusal was not treated as final"
# The final counts are written at C_Finalize, when signerd stops.
daemon_stop_checked
after=$(count C_Login)
[ "$before" -gt 0 ] || fail "no C_Login counted before the fault (stats not written?)"
[ $((after - before)) = 1 ] || fail "C_Login was called $((after - before)) times after the fault; want exactly 1"
echo "ok   one login attempt, then signerd stopped trying (restart needed)"

note "shutdown with a token call that never returns still ends"
ctl
daemon_start
ctl "C_Sign hang"
sign -o never.cab >never.txt 2>&1 &
client=$!
sleep 0.5
kill -TERM "$DAEMON_PID"
rc=0
timeout 120 tail --pid="$DAEMON_PID" -f /dev/null || fail "signerd did not exit with a call stuck in the token"
wait "$DAEMON_PID" || rc=$?
DAEMON_PID=
[ "$rc" = 1 ] || fail "signerd exited with $rc, want 1 (stopped with a stuck token call)"
grep -q "stuck in a token call" signerd.log || fail "the stuck call was not logged"
ctl
wait $client || true
echo "ok   SIGTERM ended signerd despite a hung C_Sign (exit 1, logged)"
echo "test_token_faults: all passed"
