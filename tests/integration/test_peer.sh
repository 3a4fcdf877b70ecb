#!/usr/bin/env bash
# SO_PEERCRED / SO_PEERGROUPS allow rules, on the socket and per key.
BIN=$1
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to run clients as other users"
need setpriv groupadd
fixture_init
make_key k1 rsa:2048
make_key k2 rsa:2048
grp=signerd-test-pub
getent group $grp >/dev/null || groupadd $grp
gid=$(getent group $grp | cut -d: -f3)
chmod 711 "$T"
mkdir -m 777 "$T/pub"
echo hi >"$T/pub/a.txt" && (cd "$T/pub" && gcab -c -n "$T/pub/a.cab" a.txt) && chmod 644 "$T/pub/a.cab"
write_config "  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    default: true
  - name: k2
    uri: \"pkcs11:token=signerd-test;object=k2\"
    allow: [ { user: root } ]"
sed -i "s|  mode: \"0600\"|  mode: \"0666\"\n  group: $grp\n  allow:\n    - user: root\n    - user: daemon\n    - group: $grp|" "$T/signerd.yaml"
daemon_start
[ "$(stat -c '%a %G' "$T/signerd.sock")" = "666 $grp" ] ||
	fail "socket mode/group: $(stat -c '%a %G' "$T/signerd.sock")"
echo "ok   socket file has mode 0666 and group $grp"

as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" "$@"; }
USIGNER=$(user_signer)

expect_fail 1 as nobody nogroup --clear-groups "$USIGNER" status
grep -q "NOT_AUTHORIZED\|not allowed" "$T/err" || fail "nobody: $(cat "$T/err")"
echo "ok   a uid that no rule allows is refused"
as daemon daemon --clear-groups "$USIGNER" sign-cab -o "$T/pub/d.cab" "$T/pub/a.cab" ||
	fail "user rule did not allow daemon"
verify_cab "$T/pub/d.cab" "$T/k1.pem"
echo "ok   a user rule allows its uid"
expect_fail 1 as daemon daemon --clear-groups "$USIGNER" sign-cab --key k2 -o "$T/pub/e.cab" "$T/pub/a.cab"
grep -q "NOT_AUTHORIZED\|may not sign" "$T/err" || fail "per-key rule: $(cat "$T/err")"
echo "ok   a per-key rule refuses other uids"
as nobody nogroup --groups "$gid" "$USIGNER" sign-cab -o "$T/pub/g.cab" "$T/pub/a.cab" ||
	fail "supplementary group rule did not allow nobody+$grp"
verify_cab "$T/pub/g.cab" "$T/k1.pem"
echo "ok   a supplementary group (SO_PEERGROUPS) is honoured"
daemon_stop_checked
echo "test_peer: all passed"
