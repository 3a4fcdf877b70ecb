#!/usr/bin/env bash
# revocation.fetch_cdp: CRLs downloaded from the certificates' CRL distribution
# points (a test server on 127.0.0.1), vetted, cached in revocation.cache_dir
# and judged again at every refresh; revocation published at the CA, garbage,
# oversized, forged and rolled-back downloads, the server down (cache used, also
# after a restart, until nextUpdate), and a slow server that must not stall the
# event loop.
BIN=$1
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ca.sh"
need python3
fixture_init
cd "$T"
pki_init
mkdir -p srv
SRV_PID=
srv_start() { # [PORT]
	rm -f srv.port
	python3 "$HERE/crlsrv.py" "$T/srv" "$T/srv.port" "$T/srv.log" "${1:-0}" &
	SRV_PID=$!
	for _ in $(seq 1 100); do [ -s srv.port ] && break; sleep 0.1; done
	[ -s srv.port ] || fail "the CRL server did not start"
	PORT=$(cat srv.port)
}
srv_stop() {
	[ -z "$SRV_PID" ] || { kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; }
	SRV_PID=
}
EXTRA_CLEANUP=srv_stop
srv_start
URL=http://127.0.0.1:$PORT

note "certificates naming http://127.0.0.1:$PORT/ as their CRL distribution point"
# The issuing CA again, now with the root's CDP; the leaves with an ldap URI
# (skipped) and the issuing CA's http CDP.
cat >>root/ca.cnf <<CNF
[ subca_cdp ]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
crlDistributionPoints = URI:$URL/root.crl
CNF
openssl ca -batch -config root/ca.cnf -extensions subca_cdp -days 3000 -notext \
	-in issuing/ca.csr -out issuing/ca.pem >/dev/null 2>&1 || fail "re-issuing the issuing CA"
cat issuing/ca.pem root/ca.pem >chain.pem
cat >>issuing/ca.cnf <<CNF
[ codesign_cdp ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
crlDistributionPoints = URI:ldap://ldap.example/cn=issuing?certificateRevocationList, URI:$URL/issuing.crl
CNF
for k in k1 k2; do
	"$BIN/signer" token keygen "${TOKEN_ARGS[@]}" --label $k --type rsa:2048 >/dev/null
	"$BIN/signer" token csr "${TOKEN_ARGS[@]}" --label $k --subject "/CN=$k/O=signerd tests" \
		-o $k.csr >/dev/null
	ca_sign "$T/issuing" $k.csr $k.pem "" "" codesign_cdp
	"$BIN/signer" token import-cert "${TOKEN_ARGS[@]}" --label $k $k.pem >/dev/null
done
openssl x509 -in k1.pem -noout -ext crlDistributionPoints | qgrep "$URL/issuing.crl" ||
	fail "the leaf has no CDP"
ca_crl "$T/root" root.der
ca_crl "$T/issuing" crl1.der # number 1, nothing revoked
cp root.der srv/root.crl
cp crl1.der srv/issuing.crl

keys_rev() { "$BIN/signer" keys | awk -v k="$1" '$1 == k { print $0 }'; }
expect_state() { # NAME REGEX [TRIES of 0.5 s]
	local i
	for i in $(seq 1 "${3:-1}"); do
		keys_rev "$1" | qgrep -E "$2" && return 0
		sleep 0.5
	done
	"$BIN/signer" keys >&2
	fail "key $1 is not in state /$2/"
}
# wait_log REGEX [TRIES of 0.5 s]: a new line in signerd.log (after mark_log) matches
mark_log() { LOGMARK=$(wc -l <signerd.log); }
wait_log() {
	local i
	for i in $(seq 1 "${2:-20}"); do
		tail -n +"$((LOGMARK + 1))" signerd.log | qgrep -E "$1" && return 0
		sleep 0.5
	done
	tail -n 20 signerd.log >&2
	fail "signerd did not log /$1/"
}
sign_ok() { "$BIN/signer" sign-cab --key "$1" -o "$2" a.cab || fail "signing with $1 failed"; }
sign_refused() { # KEY CODE
	expect_fail 1 "$BIN/signer" sign-cab --key "$1" -o refused.cab a.cab
	grep -q "$2" "$T/err" || fail "want $2, got: $(cat "$T/err")"
	[ ! -e refused.cab ] || fail "an output was written for a refused signature"
	echo "ok   $1 refused: $(cat "$T/err")"
}
echo hello >a.txt && gcab -c -n a.cab a.txt

KEYS="  - name: k1
    uri: \"pkcs11:token=signerd-test;object=k1\"
    chain: $T/chain.pem
    default: true
  - name: k2
    uri: \"pkcs11:token=signerd-test;object=k2\"
    chain: $T/chain.pem"
write_config "$KEYS" "revocation:
  fetch_cdp: true
  cache_dir: $T/crlcache
  fetch_timeout: 2s
  refresh: 1s"
: >signerd.log

note "signerd --check lists the distribution points and tries them, writing no cache"
"$BIN/signerd" --check -c signerd.yaml >check.out 2>&1 || { cat check.out; fail "--check failed"; }
qgrep "cdp $URL/issuing.crl (key k1): ok" check.out || { cat check.out; fail "--check: issuing.crl"; }
qgrep "cdp $URL/root.crl (key k1): ok" check.out || { cat check.out; fail "--check: root.crl"; }
[ ! -e crlcache ] || fail "--check wrote the cache"
qgrep "key k1 (default): .*revocation good" check.out || { cat check.out; fail "--check did not judge k1 with the fetched CRL"; }
echo "ok   --check: $(grep -c '^cdp ' check.out) lines"

note "no revocation.crl: the daemon fetches the CRLs, signs, and osslsigncode agrees"
mark_log
daemon_start
expect_state k1 " good " 20
wait_log "CRL distribution point $URL/issuing.crl: new CRL accepted" 1
wait_log "CRL distribution point $URL/root.crl: new CRL accepted" 1
wait_log "ldap://ldap.example.* skipped: only http and https are fetched" 1
[ "$(ls crlcache/*.crl | wc -l)" = 2 ] || { ls -l crlcache; fail "want 2 cached CRLs"; }
sign_ok k1 k1.cab
openssl crl -inform DER -in crl1.der -out crl1.pem
osslsigncode verify -CAfile root/ca.pem -CRLfile crl1.pem -ignore-cdp -in k1.cab >v.txt 2>&1 ||
	{ cat v.txt; fail "osslsigncode verify with CRL"; }

note "garbage, oversized, forged and older CRLs are refused; the cached CRL stays in use"
printf '0\x03\x02\x01\x00 not a CRL' >srv/issuing.crl
mark_log
wait_log "$URL/issuing.crl.*downloaded CRL refused: .*is not a CRL"
expect_state k1 " good "
sign_ok k1 k1-garbage.cab
head -c $((10 * 1024 * 1024 + 1)) /dev/zero >srv/issuing.crl
mark_log
wait_log "$URL/issuing.crl.*fetch failed: reply larger than 10485760 bytes"
expect_state k1 " good "
mkdir -p forged
openssl req -x509 -newkey rsa:2048 -nodes -keyout forged/ca.key -out forged/ca.pem -days 30 \
	-subj "/CN=signerd test issuing CA" 2>/dev/null
ca_conf "$T/forged"
echo 99 >forged/crlnumber
ca_crl "$T/forged" forged.der
cp forged.der srv/issuing.crl
mark_log
wait_log "$URL/issuing.crl.*downloaded CRL refused: .*does not verify"
expect_state k1 " good "
ca_crl "$T/issuing" crl2.der # number 2
cp crl2.der srv/issuing.crl
mark_log
wait_log "$URL/issuing.crl: new CRL accepted"
cp crl1.der srv/issuing.crl
mark_log
wait_log "$URL/issuing.crl.*downloaded CRL refused: .*number 1, lower than 2 .*rollback"
expect_state k1 " good "
sign_ok k1 k1-rollback.cab

note "revocation at the CA, published on the distribution point: CERT_REVOKED"
ca_revoke "$T/issuing" k1.pem keyCompromise
ca_crl "$T/issuing" crl3.der
cp crl3.der srv/issuing.crl
expect_state k1 "revoked" 20
sign_refused k1 CERT_REVOKED
grep -q "keyCompromise" "$T/err" || fail "reason not in: $(cat "$T/err")"
sign_ok k2 k2.cab

note "the server down: the cached CRL is used while it is current, also after a restart"
srv_stop
mark_log
wait_log "$URL/issuing.crl.*fetch failed: .*; the cached CRL stays in use|$URL/issuing.crl.*fetch failed"
expect_state k2 " good "
sign_ok k2 k2-down.cab
daemon_stop_checked
mark_log
daemon_start
expect_state k2 " good "
expect_state k1 "revoked"
sign_ok k2 k2-restart.cab
sign_refused k1 CERT_REVOKED
wait_log "no new CRL; the cached CRL stays in use while it is current"
"$BIN/signerd" --check -c signerd.yaml >check2.out 2>&1 || { cat check2.out; fail "--check failed"; }
qgrep "cdp $URL/issuing.crl (key k1): FAILED: .*[Cc]onnect" check2.out &&
	qgrep "cdp $URL/issuing.crl (key k1): the cached CRL would stay in use" check2.out &&
	qgrep "key k2: .*revocation good" check2.out ||
	{ cat check2.out; fail "--check with the server down"; }
mark_log
kill -HUP "$DAEMON_PID"
wait_log "reloaded: 2 keys"
wait_log "ldap://ldap.example.* skipped: only http and https are fetched" # a round after the reload
expect_state k2 " good "

note "a short-lived CRL: once past its nextUpdate with the server down, CRL_UNAVAILABLE"
ca_crl "$T/issuing" crl4.der -crlsec 8
cp crl4.der srv/issuing.crl
mark_log
srv_start "$PORT"
wait_log "$URL/issuing.crl: new CRL accepted"
srv_stop
expect_state k2 "crl-unavailable" 30
sign_refused k2 CRL_UNAVAILABLE
grep -q "stale" "$T/err" || fail "the message does not say the CRL is stale: $(cat "$T/err")"
ca_crl "$T/issuing" crl5.der
cp crl5.der srv/issuing.crl
srv_start "$PORT"
expect_state k2 " good " 20
sign_ok k2 k2-back.cab

note "a slow distribution point does not stall the event loop (STATUS, signing)"
echo 30 >srv/issuing.crl.delay
mark_log
for i in $(seq 1 12); do
	t0=$(date +%s%N)
	timeout 5 "$BIN/signer" status >/dev/null || fail "STATUS failed while a fetch hangs"
	t1=$(date +%s%N)
	[ $(((t1 - t0) / 1000000)) -lt 1000 ] || fail "STATUS took $(((t1 - t0) / 1000000)) ms"
	sleep 0.4
done
wait_log "$URL/issuing.crl.*fetch failed: .*[Tt]imed? ?out"
sign_ok k2 k2-slow.cab
echo "ok   12 STATUS calls under 1 s each while the distribution point hung"
t0=$(date +%s)
daemon_stop_checked
t1=$(date +%s)
[ $((t1 - t0)) -le 3 ] || fail "stopping took $((t1 - t0)) s with a fetch under way"
echo "ok   stopped in $((t1 - t0)) s with a fetch under way"
echo "test_cdp: all passed"
