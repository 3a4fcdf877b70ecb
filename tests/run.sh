#!/usr/bin/env bash
# The whole test suite: unit and integration tests in a hardened release
# build and in an ASan+UBSan build, bounded libFuzzer runs, and a
# clang-format check. Installs missing Debian packages when run as root.
#   sudo ./tests/run.sh            FUZZ_SECONDS=60 by default per target
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${BUILD_ROOT:-$top/build-tests}
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc)

[ -n "${SKIP_APT:-}" ] || "$top/deploy/install-deps.sh"
osslsigncode --version 2>/dev/null | sed -n 1p | grep -c 'osslsigncode 2\.\([89]\|[1-9][0-9]\)' >/dev/null ||
	echo "note: $(osslsigncode --version 2>&1 | head -1): tests were written against 2.9"

step() { printf '\n######## %s\n' "$*"; }

step "format"
files=$(cd "$top" && git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
(cd "$top" && clang-format --dry-run --Werror $files)
echo "clang-format: clean"

step "release build (hardened) + tests"
cmake -S "$top" -B "$out/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$out/release" -j"$jobs" >/dev/null
# The hardening must really be in the binaries.
for b in signerd signer; do
	f=$out/release/bin/$b
	dyn=$(readelf -W -d "$f")
	hdr=$(readelf -W -h "$f")
	syms=$(readelf -W --dyn-syms "$f")
	grep -q 'BIND_NOW' <<<"$dyn" || { echo "$b: no full RELRO" >&2; exit 1; }
	grep -q 'Type:.*DYN' <<<"$hdr" || { echo "$b: not PIE" >&2; exit 1; }
	grep -q '__stack_chk_fail' <<<"$syms" || { echo "$b: no stack protector" >&2; exit 1; }
	grep -q '_chk@' <<<"$syms" || { echo "$b: no FORTIFY_SOURCE" >&2; exit 1; }
done
echo "hardening: PIE, full RELRO, stack protector, FORTIFY present"
ctest --test-dir "$out/release" --output-on-failure -j"$jobs"

step "ASan+UBSan build + tests"
cmake -S "$top" -B "$out/asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNERD_SANITIZE=ON >/dev/null
cmake --build "$out/asan" -j"$jobs" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
ctest --test-dir "$out/asan" --output-on-failure -j"$jobs"

unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
if command -v valgrind >/dev/null && [ -z "${SKIP_VALGRIND:-}" ]; then
	step "valgrind memcheck: integration tests with signerd under memcheck"
	# Definite leaks and memory errors in signerd fail the run (exit 42 from the daemon).
	# sign (hostile clients included), admin, audit and timestamp (libcurl inside
	# the daemon): the rest would take too long.
	for t in sign admin audit timestamp; do
		DAEMON_START_TRIES=600 \
			DAEMON_WRAPPER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=42 --suppressions=$top/tests/valgrind.supp" \
			bash "$top/tests/integration/test_$t.sh" "$out/release/bin" >"$out/valgrind-$t.log" 2>&1 ||
			{ tail -n 80 "$out/valgrind-$t.log"; exit 1; }
		tail -n 1 "$out/valgrind-$t.log"
	done
fi

if [ "$fuzz_seconds" -gt 0 ] && command -v clang >/dev/null; then
	step "libFuzzer (${fuzz_seconds}s per target)"
	CC=clang cmake -S "$top" -B "$out/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSIGNERD_FUZZ=ON -DSIGNERD_SANITIZE=ON -DBUILD_TESTING=ON >/dev/null
	cmake --build "$out/fuzz" -j"$jobs" --target fuzz_targets >/dev/null
	for f in "$out"/fuzz/bin/fuzz_*; do
		name=$(basename "$f")
		corpus=$out/fuzz/corpus/$name
		mkdir -p "$corpus"
		case $name in
		fuzz_cab) seeds=$top/tests/data/cab ;;
		fuzz_script) seeds=$top/tests/data/script ;;
		fuzz_config) seeds=$top/tests/data/config ;;
		fuzz_crl) seeds=$top/tests/fuzz/seeds/crl ;;
		fuzz_audit) seeds=$top/tests/fuzz/seeds/audit ;;
		fuzz_timestamp) seeds=$top/tests/fuzz/seeds/timestamp ;;
		*) seeds=$top/tests/fuzz/seeds/handler ;; # handler and proto: valid frames
		esac
		"$f" -max_total_time="$fuzz_seconds" -print_final_stats=1 "$corpus" $seeds \
			>"$out/fuzz/$name.log" 2>&1 || { tail -n 60 "$out/fuzz/$name.log"; exit 1; }
		grep -E "stat::number_of_executed_units|cov:" "$out/fuzz/$name.log" | tail -n 2 |
			sed "s/^/$name: /"
	done
fi
step "all passed"
