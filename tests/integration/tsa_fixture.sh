# A test RFC 3161 TSA for the integration tests: a root CA, a TSA certificate
# with critical EKU timeStamping, and tsa.py (in front of `openssl ts -reply`)
# on 127.0.0.1. Source after lib.sh (uses $T, $HERE, note and fail).
#
# tsa_start: $T/tsa/ca.pem (the TSA's root), $T/tsa/other.pem (a root that did
# not issue the TSA certificate), TSA=http://127.0.0.1:PORT (the URL path picks
# the behaviour, see tsa.py), TSA_PID, and tsa.py's request log $T/tsa.log.
# Stop it with tsa_stop (e.g. EXTRA_CLEANUP=tsa_stop).
tsa_start() {
	note "a test TSA: root CA, TSA certificate with critical EKU timeStamping"
	mkdir "$T/tsa"
	(
		cd "$T/tsa"
		echo 01 >serial
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
			-subj "/CN=signerd test TSA root" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout tsa.key -out tsa.csr \
			-subj "/CN=signerd test TSA" 2>/dev/null
		printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
			"extendedKeyUsage=critical,timeStamping" "subjectKeyIdentifier=hash" \
			"authorityKeyIdentifier=keyid" >tsa.ext
		openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out tsa.pem \
			-days 3650 -extfile tsa.ext 2>/dev/null
		cp ca.pem chain.pem
		# A root that did not issue the TSA certificate, for the trust test.
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 3650 \
			-subj "/CN=some other root" 2>/dev/null
		for sec in tsa_config tsa_reject; do
			printf '[ %s ]\ndir = %s\nserial = $dir/serial\ncrypto_device = builtin\n' "$sec" "$T/tsa"
			printf 'signer_cert = $dir/tsa.pem\ncerts = $dir/chain.pem\nsigner_key = $dir/tsa.key\n'
			printf 'signer_digest = sha256\ndefault_policy = 1.2.3.4.1\naccuracy = secs:1\n'
			printf 'ordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n'
			[ "$sec" = tsa_config ] && echo "digests = sha256, sha384, sha512" || echo "digests = md5"
		done >tsa.cnf
		sed -i '1i [ tsa ]\ndefault_tsa = tsa_config\n' tsa.cnf
	)
	python3 "$HERE/tsa.py" "$T/tsa" "$T/tsa.port" "$T/tsa.log" &
	TSA_PID=$!
	for _ in $(seq 1 100); do [ -s "$T/tsa.port" ] && break; sleep 0.1; done
	[ -s "$T/tsa.port" ] || fail "the test TSA did not start"
	TSA="http://127.0.0.1:$(cat "$T/tsa.port")"
	touch "$T/tsa.log"
}

tsa_stop() { kill "$TSA_PID" 2>/dev/null || true; }
