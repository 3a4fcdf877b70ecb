#!/usr/bin/env bash
# The admin channel: freeze stops every signature at once (also under load),
# thaw resumes, retire refuses one key, reload reloads; only root or
# admin.allow may use it, and admin messages are refused on the client socket.
BIN=$1
. "$(dirname "$0")/lib.sh"
fixture_init
cd "$T"
make_key k1 rsa:2048
make_key k2 rsa:2048
write_config "  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    default: true
  - name: k2
    uri: \"pkcs11:token=signerd-test;object=k2\"" "admin:
  path: $T/admin.sock
  mode: \"0666\""
daemon_start
export SIGNERD_ADMIN_SOCKET=$T/admin.sock
echo hi >a.txt && gcab -c -n a.cab a.txt

note "freeze under load"
"$BIN/load_client" "$T/signerd.sock" 2 400 16 >load.txt 2>&1 &
load=$!
sleep 0.3
"$BIN/signer" admin freeze | qgrep "frozen" || fail "freeze not acknowledged"
# Once freeze has returned, nothing signs.
expect_fail 1 "$BIN/signer" sign-cab -o f.cab a.cab
grep -q "FROZEN" "$T/err" || fail "want FROZEN, got: $(cat "$T/err")"
! wait $load || fail "the load finished without a single FROZEN refusal"
grep -q "FROZEN" load.txt || { cat load.txt; fail "the load saw no FROZEN"; }
"$BIN/signer" status | qgrep "^frozen: yes" || fail "STATUS does not show frozen"
grep -q "FROZEN by uid 0" signerd.log || fail "the freeze was not logged with its requester"
echo "ok   freeze refuses at once, in-flight load included"
"$BIN/signer" admin thaw >/dev/null
"$BIN/signer" sign-cab -o t.cab a.cab
verify_cab t.cab k1.pem
echo "ok   thaw resumes signing"

note "retire a key at run time"
"$BIN/signer" admin retire k1 | qgrep 'key "k1" retired' || fail "retire not acknowledged"
expect_fail 1 "$BIN/signer" sign-cab --key k1 -o r.cab a.cab
grep -q "KEY_RETIRED.*administrator" "$T/err" || fail "retired: $(cat "$T/err")"
"$BIN/signer" sign-cab --key k2 -o k2.cab a.cab
verify_cab k2.cab k2.pem
expect_fail 1 "$BIN/signer" admin retire nosuchkey
grep -q "UNKNOWN_KEY" "$T/err" || fail "retire of an unknown key: $(cat "$T/err")"
echo "ok   retire refuses that key only"

note "reload through the admin channel"
"$BIN/signer" admin reload | qgrep reloaded || fail "reload not acknowledged"
grep -q "reload requested by uid 0" signerd.log || fail "admin reload not logged"
# A retire survives a reload: it lasts until restart.
expect_fail 1 "$BIN/signer" sign-cab --key k1 -o r.cab a.cab

note "who may use it"
expect_fail 1 "$BIN/signer" admin --admin-socket "$T/signerd.sock" freeze
grep -q "NOT_AUTHORIZED.*admin socket" "$T/err" || fail "admin on the client socket: $(cat "$T/err")"
"$BIN/signer" status | qgrep "^frozen: no" || fail "an admin message on the client socket took effect"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 711 "$T"
	usigner=$(user_signer)
	expect_fail 1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$usigner" admin freeze
	grep -q "NOT_AUTHORIZED" "$T/err" || fail "nobody on the admin socket: $(cat "$T/err")"
	"$BIN/signer" status | qgrep "^frozen: no" || fail "an unprivileged freeze took effect"
	echo "ok   an unprivileged uid is refused on the admin socket"
fi
expect_fail 2 "$BIN/signer" admin retire
daemon_stop_checked
echo "test_admin: all passed"
