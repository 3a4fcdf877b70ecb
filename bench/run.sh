#!/usr/bin/env bash
# signerd benchmark driver: bench/run.sh BUILD_BIN_DIR
#
# Provisions a throwaway SoftHSM2 token and RSA-2048 key (the integration
# tests' fixture, tests/integration/lib.sh), then
#   1. for each session count in $BENCH_SESSIONS (default "2 4"): starts
#      signerd with "sessions: N" and runs signerd_bench (raw C_Sign rate with
#      1 and 2 sessions, signerd with 1/2/8 pipelining clients in slices
#      interleaved with raw C_Sign slices, latency);
#   2. signs $BENCH_CABS (default 500) small CABs with one
#      `signer sign-cab --out-dir`, and $BENCH_OSSL_CABS (default: all of them)
#      with osslsigncode + the libp11 engine, one process per CAB;
# and prints everything. It is a report, not a test: nothing here asserts
# wall-clock time, and it is not registered with CTest.
#
# Environment: BENCH_ROUNDS (default 5) and BENCH_SECONDS (per phase and
# round, default 1) and BENCH_SLICE (one interleaved slice, default 0.2 s) for
# signerd_bench, BENCH_SESSIONS, BENCH_AUDIT=0 (skip the default
# more signerd_bench run with sessions: 2 and the audit log on),
# BENCH_CABS, BENCH_OSSL_CABS, PKCS11_ENGINE (the libp11 engine .so),
# KEEP_TEST_DIR=1 to keep the temporary directory.
[ $# -eq 1 ] || { echo "usage: $0 BUILD_BIN_DIR" >&2; exit 2; }
BIN=$(cd "$1" && pwd)
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/../tests/integration/lib.sh"

BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-1}
BENCH_SESSIONS=${BENCH_SESSIONS-2 4} # empty: batch comparison only
BENCH_CABS=${BENCH_CABS:-500}
BENCH_OSSL_CABS=${BENCH_OSSL_CABS:-$BENCH_CABS}
PKCS11_ENGINE=${PKCS11_ENGINE:-/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so}
KEY=bench
TOKEN=signerd-test # the label lib.sh gives its throwaway token

[ -x "$BIN/signerd_bench" ] || skip "$BIN/signerd_bench is not built"
fixture_init
RUN_START=$EPOCHREALTIME

machine() {
	note "machine"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "softhsm2: $(softhsm2-util --version 2>/dev/null || echo '?')"
	echo "osslsigncode: $(osslsigncode --version 2>/dev/null | head -n1 || echo '?')"
	echo "openssl: $(openssl version)"
	echo "kernel: $(uname -r)"
}

# ms between two $EPOCHREALTIME values
elapsed_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# bench_with_sessions N [audit]: signerd with "sessions: N" (and an audit log)
bench_with_sessions() {
	local extra="" what="sessions: $1"
	if [ "${2:-}" = audit ]; then
		extra="audit:
  path: $T/audit.log"
		what="$what, audit log on"
	fi
	SESSIONS=$1 write_config "  - name: $KEY
    uri: \"pkcs11:token=$TOKEN;object=$KEY\"
    certificate: $T/$KEY.pem
    default: true" "$extra"
	daemon_start
	note "signerd_bench against signerd with $what"
	"$BIN/signerd_bench" --module "$SOFTHSM_MODULE" --token "$TOKEN" --pin-file "$T/pin" \
		--key "$KEY" --socket "$T/signerd.sock" --rounds "$BENCH_ROUNDS" \
		--seconds "$BENCH_SECONDS" ${BENCH_SLICE:+--slice "$BENCH_SLICE"}
	daemon_stop
}

make_cabs() {
	local i
	mkdir -p "$T/cabs" "$T/payload" "$T/out-ossl"
	for i in $(seq -w 1 "$BENCH_CABS"); do
		printf 'update payload %s\n' "$i" >"$T/payload/p$i.txt"
		(cd "$T/payload" && gcab -c -n "$T/cabs/u$i.cab" "p$i.txt")
	done
}

# CPU accounting for the batch timings, in clock ticks: the machine's busy
# time (/proc/stat) minus ours (this shell and its reaped children, plus the
# running signerd) is what other processes took meanwhile.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
# proc_ticks PID [children]: utime + stime (+ cutime + cstime) from /proc/PID/stat
proc_ticks() {
	local s f
	s=$(<"/proc/$1/stat")
	read -r -a f <<<"${s##*) }" # f[0] is field 3 (state): utime is f[11]
	if [ "${2:-}" = children ]; then
		echo $((f[11] + f[12] + f[13] + f[14]))
	else
		echo $((f[11] + f[12]))
	fi
}
own_ticks() {
	local t
	t=$(proc_ticks $$ children)
	if [ -n "${DAEMON_PID:-}" ]; then t=$((t + $(proc_ticks "$DAEMON_PID"))); fi
	echo "$t"
}
acct_start() {
	A_BUSY=$(busy_ticks)
	A_OWN=$(own_ticks)
	A_T0=$EPOCHREALTIME
}
# Sets A_MS (wall ms) and A_OTHER (% of one CPU other processes used).
acct_end() {
	local t1=$EPOCHREALTIME busy own
	busy=$(busy_ticks)
	own=$(own_ticks)
	A_MS=$(elapsed_ms "$A_T0" "$t1")
	A_OTHER=$(awk -v b=$((busy - A_BUSY)) -v o=$((own - A_OWN)) -v ms="$A_MS" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { v = 100 * (b - o) / hz / (ms / 1000); printf "%.0f", v < 0 ? 0 : v }')
}

batch_compare() {
	local r n=0 f last="" uri signer_ms=() per_signer per_ossl ossl_total ratio med
	note "batch: $BENCH_CABS small CABs"
	make_cabs
	CABS=("$T"/cabs/*.cab)
	echo "CAB size: $(stat -c %s "${CABS[0]}") bytes each (one small file, gcab)"
	printf '%-56s %9s %10s %7s\n' "batch signing" "total ms" "ms per CAB" "other%"

	# signer: one process, all CABs pipelined on one connection; three times.
	SESSIONS=2 write_config "  - name: $KEY
    uri: \"pkcs11:token=$TOKEN;object=$KEY\"
    certificate: $T/$KEY.pem
    default: true"
	daemon_start
	for r in 1 2 3; do
		mkdir -p "$T/out-signer-$r"
		acct_start
		"$BIN/signer" sign-cab --out-dir "$T/out-signer-$r" "${CABS[@]}" >/dev/null \
			2>"$T/signer.err" || { cat "$T/signer.err" >&2; fail "signer sign-cab failed"; }
		acct_end
		signer_ms+=("$A_MS")
		printf '%-56s %9s %10s %7s\n' "signer sign-cab --out-dir, $BENCH_CABS CABs (run $r)" \
			"$A_MS" "$(awk -v t="$A_MS" -v n="$BENCH_CABS" 'BEGIN { printf "%.2f", t / n }')" \
			"$A_OTHER"
		[ "$(ls "$T/out-signer-$r" | wc -l)" = "$BENCH_CABS" ] ||
			fail "signer did not write every CAB"
	done
	daemon_stop
	verify_cab "$T/out-signer-1/$(basename "${CABS[-1]}")" "$T/$KEY.pem"
	med=$(printf '%s\n' "${signer_ms[@]}" | sort -n | sed -n 2p)

	# osslsigncode through the libp11 engine, one process per CAB. The PIN goes
	# in the URI (pin-value) only because this token is a throwaway.
	uri="pkcs11:token=$TOKEN;object=$KEY;type=private;pin-value=$(head -n1 "$T/pin")"
	acct_start
	for f in "${CABS[@]}"; do
		[ "$n" -lt "$BENCH_OSSL_CABS" ] || break
		osslsigncode sign -pkcs11engine "$PKCS11_ENGINE" -pkcs11module "$SOFTHSM_MODULE" \
			-key "$uri" -certs "$T/$KEY.pem" -h sha256 \
			-in "$f" -out "$T/out-ossl/$(basename "$f")" >/dev/null 2>"$T/ossl.err" ||
			{ cat "$T/ossl.err" >&2; fail "osslsigncode could not sign $f"; }
		last=$f
		n=$((n + 1))
	done
	acct_end
	[ -n "$last" ] || fail "BENCH_OSSL_CABS=$BENCH_OSSL_CABS: osslsigncode signed nothing"
	# The last CAB osslsigncode signed: after a "break", $f is the first one it skipped.
	verify_cab "$T/out-ossl/$(basename "$last")" "$T/$KEY.pem"
	per_ossl=$(awk -v t="$A_MS" -v n="$n" 'BEGIN { printf "%.2f", t / n }')
	printf '%-56s %9s %10s %7s\n' "osslsigncode + libp11 engine, $n processes, 1 CAB each" \
		"$A_MS" "$per_ossl" "$A_OTHER"
	if [ "$n" != "$BENCH_CABS" ]; then
		ossl_total=$(awk -v p="$per_ossl" -v n="$BENCH_CABS" 'BEGIN { printf "%.0f", p * n }')
		echo "(osslsigncode ran $n of $BENCH_CABS CABs; scaled to $BENCH_CABS: $ossl_total ms)"
	fi
	echo "both outputs verified with osslsigncode verify (one CAB each);" \
		"other%: CPU other processes used meanwhile, % of one CPU"

	per_signer=$(awk -v t="$med" -v n="$BENCH_CABS" 'BEGIN { printf "%.2f", t / n }')
	ratio=$(awk -v a="$per_ossl" -v b="$per_signer" 'BEGIN { printf "%.1f", a / b }')
	echo
	echo "ratio (this run; signer: the median of its three runs)"
	printf '  osslsigncode per CAB / signer batch per CAB   %6s   %s (target >= 10)\n' \
		"$ratio" "$(awk -v r="$ratio" 'BEGIN { print (r >= 10) ? "PASS" : "MISS" }')"
}

machine
note "throwaway token and RSA-2048 key"
make_key "$KEY" rsa:2048
echo "token \"$TOKEN\" in $T/tokens, key \"$KEY\", self-signed certificate $T/$KEY.pem"
[ -e "$PKCS11_ENGINE" ] ||
	skip "libp11 engine $PKCS11_ENGINE not found (apt-get install libengine-pkcs11-openssl)"
for s in $BENCH_SESSIONS; do
	bench_with_sessions "$s"
done
if [ "${BENCH_AUDIT:-1}" != 0 ]; then
	bench_with_sessions 2 audit
fi
batch_compare
note "done in $(awk -v a="$RUN_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
