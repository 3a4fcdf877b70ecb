# Shared fixture for the integration tests: a throwaway SoftHSM2 token, a key
# with a self-signed certificate, and a running signerd. Source it; it needs
# BIN (the build's bin directory, holding signerd and signer).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

# grep -q at the end of a pipeline exits at the first match and kills the
# producer with SIGPIPE, which pipefail turns into a failure. qgrep reads
# everything: same exit status as grep -q, no race.
qgrep() { grep -c "$@" >/dev/null; }

# until_ok N CMD...: run CMD every 0.05 s until it succeeds, at most N + 1 times;
# returns its last status.
until_ok() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "== $*"; }

need() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"; done
}

# Run a command that must fail with exit status $1; its stderr goes to $T/err.
expect_fail() {
	local want=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$T/out" "$T/err" >&2; fail "expected exit $want, got $rc: $*"; }
}

fixture_init() {
	need softhsm2-util gcab osslsigncode openssl
	[ -e "$SOFTHSM_MODULE" ] || skip "SoftHSM2 module not found"
	T=$(mktemp -d /tmp/signerd-test.XXXXXX)
	DAEMON_PID=
	trap fixture_cleanup EXIT
	mkdir -p "$T/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T" >"$T/softhsm2.conf"
	export SOFTHSM2_CONF=$T/softhsm2.conf
	(umask 077 && printf '%s\n' "${TEST_PIN:-123456}" >"$T/pin" && printf '87654321\n' >"$T/so-pin")
	"$BIN/signer" token init --module "$SOFTHSM_MODULE" --token signerd-test \
		--so-pin-file "$T/so-pin" --pin-file "$T/pin" >/dev/null
	export SIGNERD_SOCKET=$T/signerd.sock
	TOKEN_ARGS=(--module "$SOFTHSM_MODULE" --token signerd-test --pin-file "$T/pin")
}

fixture_cleanup() {
	local rc=$?
	set +e
	# A test's own teardown (set EXTRA_CLEANUP to a function name) runs first.
	[ -z "${EXTRA_CLEANUP:-}" ] || "$EXTRA_CLEANUP"
	daemon_stop || true
	if [ "$rc" != 0 ] && [ -f "$T/signerd.log" ]; then
		echo "--- signerd log (last 40 lines)" >&2
		tail -n 40 "$T/signerd.log" >&2
	fi
	[ -n "${KEEP_TEST_DIR:-}" ] || rm -rf "$T"
	exit "$rc"
}

# A copy of signer (and its shared library) that other users can run even when
# the build tree is private (a 0700 clone): echoes the path of a wrapper.
user_signer() {
	local lib
	mkdir -p "$T/ubin"
	cp "$BIN/signer" "$T/ubin/signer"
	lib=$(ldd "$BIN/signer" | awk '/libsigner-client/ { print $3 }')
	[ -z "$lib" ] || cp -L "$lib" "$T/ubin/$(basename "$lib")"
	printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$T/ubin" "$T/ubin/signer" >"$T/ubin/signer-as"
	chmod 755 "$T/ubin" "$T/ubin"/*
	echo "$T/ubin/signer-as"
}

# make_key LABEL [TYPE]: key on the token, self-signed certificate in $T/LABEL.pem
make_key() {
	"$BIN/signer" token keygen "${TOKEN_ARGS[@]}" --label "$1" --type "${2:-rsa:2048}" \
		--self-signed --subject "CN=$1 test signer,O=signerd tests" --years 5 \
		-o "$T/$1.pem" >/dev/null
}

# write_config KEYS_YAML [EXTRA_YAML]
write_config() {
	cat >"$T/signerd.yaml" <<YAML
socket:
  path: $T/signerd.sock
  mode: "0600"
token:
  module: $SOFTHSM_MODULE
  uri: "pkcs11:token=signerd-test"
  pin_file: $T/pin
  sessions: ${SESSIONS:-2}
keys:
$1
${2:-}
YAML
}

# DAEMON_WRAPPER runs signerd under a tool, e.g. valgrind (tests/run.sh's memcheck step).
daemon_start() {
	# shellcheck disable=SC2086
	${DAEMON_WRAPPER:-} "$BIN/signerd" -f ${DAEMON_ARGS:-} -c "$T/signerd.yaml" >>"$T/signerd.log" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 "${DAEMON_START_TRIES:-100}"); do
		[ -S "$T/signerd.sock" ] && "$BIN/signer" status >/dev/null 2>&1 && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/signerd.log" >&2; fail "signerd exited"; }
		sleep 0.1
	done
	fail "signerd did not come up"
}

daemon_stop() {
	local rc=0
	[ -n "${DAEMON_PID:-}" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || rc=$?
	DAEMON_PID=
	return $rc
}

# Stop the daemon and insist on a clean exit (sanitizer builds report leaks here).
daemon_stop_checked() {
	local rc=0
	daemon_stop || rc=$?
	[ "$rc" = 0 ] || { tail -n 60 "$T/signerd.log" >&2; fail "signerd exited with status $rc"; }
}

# make_cab OUT FILE... [gcab options via GCAB_OPTS]
make_cab() {
	local out=$1
	shift
	gcab ${GCAB_OPTS:-} -c -n "$out" "$@"
}

# verify_cab CAB CERT: osslsigncode must accept it, plus the OIDs it does not check.
verify_cab() {
	osslsigncode verify -CAfile "$2" -in "$1" >"$T/verify.out" 2>&1 ||
		{ cat "$T/verify.out" >&2; fail "osslsigncode verify rejected $1"; }
	grep -q "Signature verification: ok" "$T/verify.out" ||
		{ cat "$T/verify.out" >&2; fail "osslsigncode did not report a good signature for $1"; }
	osslsigncode extract-signature -in "$1" -out "$T/sig.der" >/dev/null 2>&1 ||
		fail "cannot extract the signature of $1"
	openssl asn1parse -inform DER -in "$T/sig.der" | grep ' OBJECT ' >"$T/sig.oids"
	# The SignedData's content type (depth 4) must be SPC_INDIRECT_DATA ...
	grep -Eq 'd=4 .*:1\.3\.6\.1\.4\.1\.311\.2\.1\.4$' "$T/sig.oids" ||
		{ cat "$T/sig.oids" >&2; fail "$1: SignedData content type is not SPC_INDIRECT_DATA"; }
	# ... and so must the signed contentType attribute ...
	grep -A1 ':contentType$' "$T/sig.oids" | qgrep -E ':1\.3\.6\.1\.4\.1\.311\.2\.1\.4$' ||
		{ cat "$T/sig.oids" >&2; fail "$1: contentType attribute is not SPC_INDIRECT_DATA"; }
	# ... and the indirect data must name CAB data.
	grep -Eq ':1\.3\.6\.1\.4\.1\.311\.2\.1\.25$' "$T/sig.oids" ||
		{ cat "$T/sig.oids" >&2; fail "$1: no CAB data OID 1.3.6.1.4.1.311.2.1.25"; }
	rm -f "$T/sig.der" "$T/sig.oids"
}
