#!/usr/bin/env bash
# deploy/: the install layout, the systemd units as systemd itself parses them,
# socket activation through systemd-socket-activate, and the sd_notify protocol
# (READY / RELOADING / STOPPING) as a Type=notify unit sees it.
# Parts whose tool is missing are skipped with a note; the script then exits 77.
BIN=$1
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "$BIN/.." && pwd)
SKIPPED=()
LISTENER=
skip_part() {
	echo "SKIP: $*"
	SKIPPED+=("$*")
}
# A daemon that ignores SIGTERM must not hang the test: lib.sh's cleanup waits
# for it without a limit, so give it 15 s and then SIGKILL it.
cleanup() {
	local rc=$? _
	set +e
	[ -z "$LISTENER" ] || kill "$LISTENER" 2>/dev/null
	if [ -n "${DAEMON_PID:-}" ] && kill -TERM "$DAEMON_PID" 2>/dev/null; then
		for _ in $(seq 1 150); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$DAEMON_PID" 2>/dev/null && { echo "signerd ignored SIGTERM; killed" >&2; kill -KILL "$DAEMON_PID"; }
	fi
	(exit "$rc")
	fixture_cleanup
}
need cmake
fixture_init
trap cleanup EXIT

cache() { sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt"; }
# under PREFIX DIR: where DIR (absolute, or relative to PREFIX) ends up
under() { case $2 in /*) echo "$2" ;; *) echo "$1/$2" ;; esac; }
must_exist() {
	local f
	for f in "$@"; do [ -f "$f" ] || fail "not installed: $f"; done
}
mode_of() { stat -c '%a %u %g' "$1"; }

note "(a) cmake --install of the build into a DESTDIR"
PREFIX=$(cache CMAKE_INSTALL_PREFIX)
UNITDIR=$(under "$PREFIX" "$(cache SYSTEMD_UNITDIR)")
SYSUSERSDIR=$(under "$PREFIX" "$(cache SYSTEMD_SYSUSERSDIR)")
TMPFILESDIR=$(under "$PREFIX" "$(cache SYSTEMD_TMPFILESDIR)")
if [ "$PREFIX" = /usr ]; then ETC=/etc; else ETC=$PREFIX/etc; fi
D=$T/root
DESTDIR=$D cmake --install "$BUILD" >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "cmake --install"; }
must_exist "$D$PREFIX/sbin/signerd" "$D$PREFIX/bin/signer" "$D$UNITDIR/signerd.service" \
	"$D$UNITDIR/signerd.socket" "$D$SYSUSERSDIR/signerd.conf" "$D$TMPFILESDIR/signerd.conf" \
	"$D$ETC/signerd/signerd.yaml" "$D$PREFIX/share/doc/signerd/README.md" \
	"$D$PREFIX/share/doc/signerd/examples/network.conf" \
	"$D$PREFIX/share/doc/signerd/examples/usb-token.conf"
[ -x "$D$PREFIX/sbin/signerd" ] || fail "signerd is not executable"
cmp -s "$SRC/config/signerd.yaml" "$D$ETC/signerd/signerd.yaml" || fail "signerd.yaml differs from config/"
grep -qx "ExecStart=$PREFIX/sbin/signerd -f -c $ETC/signerd/signerd.yaml" "$D$UNITDIR/signerd.service" ||
	{ grep ExecStart "$D$UNITDIR/signerd.service"; fail "ExecStart does not name the installed paths"; }
# The drop-ins are examples only: nothing may land in a signerd.service.d/.
[ -z "$(find "$D" -path '*signerd.service.d*')" ] || fail "a drop-in was installed as active"
echo "ok   prefix $PREFIX: units in $UNITDIR, configuration in $ETC/signerd"

# A package build (prefix /usr): the exact Debian paths, from the deploy
# component alone (no build needed for it).
cmake -S "$SRC" -B "$T/b-usr" -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF >"$T/cfg.log" 2>&1 ||
	{ tail -n 20 "$T/cfg.log"; fail "configure with CMAKE_INSTALL_PREFIX=/usr"; }
U=$T/usr-root
DESTDIR=$U cmake --install "$T/b-usr" --component deploy >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log"; fail "cmake --install --component deploy"; }
must_exist "$U/lib/systemd/system/signerd.service" "$U/lib/systemd/system/signerd.socket" \
	"$U/usr/lib/sysusers.d/signerd.conf" "$U/usr/lib/tmpfiles.d/signerd.conf" \
	"$U/etc/signerd/signerd.yaml" "$U/usr/share/doc/signerd/examples/network.conf" \
	"$U/usr/share/doc/signerd/examples/usb-token.conf" "$U/usr/share/doc/signerd/examples/signerd.yaml"
# With /usr the checked-in units are installed unchanged.
cmp -s "$SRC/deploy/signerd.service" "$U/lib/systemd/system/signerd.service" ||
	fail "prefix /usr: installed signerd.service differs from deploy/signerd.service"
cmp -s "$SRC/deploy/signerd.socket" "$U/lib/systemd/system/signerd.socket" ||
	fail "prefix /usr: installed signerd.socket differs from deploy/signerd.socket"
[ "$(stat -c %a "$U/etc/signerd/signerd.yaml")" = 644 ] || fail "signerd.yaml is not 0644"
[ ! -e "$U/usr/sbin/signerd" ] || fail "component deploy installed a binary"
[ -z "$(find "$U" -path '*signerd.service.d*')" ] || fail "a drop-in was installed as active"
echo "ok   prefix /usr: /lib/systemd/system, /usr/lib/{sysusers,tmpfiles}.d, /etc/signerd"

# sysusers.d and tmpfiles.d applied to that tree, as a package's postinst does.
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	systemd-sysusers --root="$U" "$U/usr/lib/sysusers.d/signerd.conf" >"$T/sysusers.log" 2>&1 ||
		{ cat "$T/sysusers.log"; fail "systemd-sysusers"; }
	grep -q '^signerd:x:[0-9]*:[0-9]*:[^:]*:[^:]*:/usr/sbin/nologin$' "$U/etc/passwd" ||
		{ cat "$U/etc/passwd"; fail "no system user signerd"; }
	grep -qx 'signerd:x:[0-9]*:' "$U/etc/group" || { cat "$U/etc/group"; fail "no group signerd"; }
	grep -qx 'signerd-publishers:x:[0-9]*:signerd' "$U/etc/group" ||
		{ cat "$U/etc/group"; fail "no group signerd-publishers with signerd in it"; }
	grep -qx 'softhsm:x:[0-9]*:signerd' "$U/etc/group" ||
		{ cat "$U/etc/group"; fail "signerd is not in group softhsm"; }
	uid=$(awk -F: '$1 == "signerd" { print $3 }' "$U/etc/passwd")
	gid=$(awk -F: '$1 == "signerd" { print $3 }' "$U/etc/group")
	# cmake made /etc/signerd 0755 root:root; tmpfiles must tighten it.
	systemd-tmpfiles --root="$U" --create "$U/usr/lib/tmpfiles.d/signerd.conf" >"$T/tmpfiles.log" 2>&1 ||
		{ cat "$T/tmpfiles.log"; fail "systemd-tmpfiles"; }
	[ "$(mode_of "$U/etc/signerd")" = "750 0 $gid" ] || fail "/etc/signerd: $(mode_of "$U/etc/signerd")"
	[ "$(mode_of "$U/var/lib/signerd")" = "750 $uid $gid" ] ||
		fail "/var/lib/signerd: $(mode_of "$U/var/lib/signerd")"
	[ "$(mode_of "$U/run/signerd")" = "755 $uid $gid" ] || fail "/run/signerd: $(mode_of "$U/run/signerd")"
	echo "ok   sysusers.d: signerd in signerd-publishers and softhsm; tmpfiles.d: /etc, /var/lib, /run"
else
	skip_part "(a) systemd-sysusers / systemd-tmpfiles not installed"
fi

note "(b) systemd-analyze verify"
# verify exits 0 on an unknown key or a bad value and only prints a warning,
# so any output at all is a failure. ExecStart must name an existing binary:
# the copies checked point it at the DESTDIR signerd.
analyze() { # DIR: verify DIR's units (drop-ins in DIR/signerd.service.d apply)
	(cd "$1" && systemd-analyze verify --man=no ./signerd.service ./signerd.socket) >"$T/verify.out" 2>&1
}
if command -v systemd-analyze >/dev/null; then
	# The build's units (prefix $PREFIX) and the package's (prefix /usr, as
	# checked in); the latter also take the drop-ins below.
	for inst in "$D$UNITDIR:$PREFIX" "$U/lib/systemd/system:/usr"; do
		V=$T/verify
		rm -rf "$V" && mkdir -p "$V"
		cp "${inst%:*}/signerd.service" "${inst%:*}/signerd.socket" "$V/"
		sed -i "s|^ExecStart=${inst#*:}/sbin/signerd |ExecStart=$D$PREFIX/sbin/signerd |" "$V/signerd.service"
		grep -q "^ExecStart=$D" "$V/signerd.service" || fail "could not point ExecStart at the DESTDIR"
		analyze "$V" || { cat "$T/verify.out"; fail "systemd-analyze verify failed"; }
		[ ! -s "$T/verify.out" ] || { cat "$T/verify.out"; fail "systemd-analyze verify complained"; }
		echo "ok   prefix ${inst#*:}: signerd.service, signerd.socket: verify silent"
	done
	for dropin in network.conf usb-token.conf; do
		mkdir -p "$V/signerd.service.d"
		cp "$D$PREFIX/share/doc/signerd/examples/$dropin" "$V/signerd.service.d/"
		analyze "$V" || { cat "$T/verify.out"; fail "verify with $dropin failed"; }
		[ ! -s "$T/verify.out" ] || { cat "$T/verify.out"; fail "verify complained with $dropin"; }
		# ... and the drop-in is read: a misspelling in it is reported.
		echo "PrivateNetwrok=no" >>"$V/signerd.service.d/$dropin"
		analyze "$V" || true
		grep -q "PrivateNetwrok" "$T/verify.out" ||
			{ cat "$T/verify.out"; fail "verify did not read the drop-in $dropin"; }
		rm -r "$V/signerd.service.d"
		echo "ok   with drop-in $dropin: verify silent"
	done
	# The ExecStopPost= guard against socket-triggered PIN retries, run the way
	# systemd runs it ($$ is a literal $), with a stand-in systemctl.
	stoppost=$(sed -n "s|^ExecStopPost=+/bin/sh -c '\(.*\)'\$|\1|p" "$U/lib/systemd/system/signerd.service")
	[ -n "$stoppost" ] || fail "no ExecStopPost=+/bin/sh -c '...' in signerd.service"
	stoppost=${stoppost//\$\$/\$}
	mkdir -p "$T/fakebin"
	printf '#!/bin/sh\necho "$*" >>"%s/systemctl.calls"\n' "$T" >"$T/fakebin/systemctl"
	chmod +x "$T/fakebin/systemctl"
	for c in exited:3:yes exited:1:no exited:0:no killed:QUIT:no dumped:ABRT:no; do
		rm -f "$T/systemctl.calls"
		IFS=: read -r code status want <<<"$c"
		PATH=$T/fakebin:$PATH EXIT_CODE=$code EXIT_STATUS=$status /bin/sh -c "$stoppost" ||
			fail "ExecStopPost failed for $code/$status"
		if [ "$want" = yes ]; then
			[ "$(cat "$T/systemctl.calls" 2>/dev/null)" = "--no-block stop signerd.socket" ] ||
				fail "ExecStopPost did not stop signerd.socket after exit status 3"
		else
			[ ! -e "$T/systemctl.calls" ] || fail "ExecStopPost stopped the socket after $code/$status"
		fi
	done
	echo "ok   ExecStopPost stops signerd.socket after exit status 3 only"
	# Negative controls: the same check must catch a misspelled directive, a
	# bad value and a misspelled section.
	for edit in 's/^ProtectSystem=strict/ProtectSytem=strict/' 's/^RestrictSUIDSGID=yes/RestrictSUIDSGID=maybe/' \
		's/^\[Service\]/[Servcie]/'; do
		cp "$V/signerd.service" "$T/good.service"
		sed -i "$edit" "$V/signerd.service"
		! cmp -s "$V/signerd.service" "$T/good.service" || fail "negative control $edit did not apply"
		analyze "$V" || true
		[ -s "$T/verify.out" ] || fail "systemd-analyze verify did not notice: $edit"
		mv "$T/good.service" "$V/signerd.service"
	done
	echo "ok   a misspelled directive, a bad value and a bad section are reported"
else
	skip_part "(b) systemd-analyze not installed"
fi

make_key wsus rsa:2048
KEYS="  - name: wsus
    uri: \"pkcs11:token=signerd-test;object=wsus\"
    certificate: $T/wsus.pem
    default: true"
mkdir -p "$T/in"
echo "deployed" >"$T/in/a.txt"
(cd "$T/in" && make_cab "$T/plain.cab" a.txt)

note "(c) socket activation (systemd-socket-activate)"
if command -v systemd-socket-activate >/dev/null; then
	write_config "$KEYS"
	# systemd-socket-activate binds the socket, waits for the first connection,
	# then execs signerd with LISTEN_FDS=1 and LISTEN_PID set to its own PID.
	# It passes on only the variables given with -E.
	envs=(-E SOFTHSM2_CONF)
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [ -z "${!v:-}" ] || envs+=(-E "$v"); done
	systemd-socket-activate -l "$T/act.sock" "${envs[@]}" \
		"$BIN/signerd" -f -c "$T/signerd.yaml" >>"$T/signerd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do
		[ -S "$T/act.sock" ] && break
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/signerd.log"; fail "systemd-socket-activate exited"; }
		sleep 0.1
	done
	[ -S "$T/act.sock" ] || fail "systemd-socket-activate did not bind $T/act.sock"
	# The first client connects before signerd runs and waits in the backlog.
	# systemd-socket-activate, unlike PID 1, passes a blocking listening socket.
	SIGNERD_SOCKET=$T/act.sock timeout 30 "$BIN/signer" status >"$T/status" 2>&1 ||
		{ cat "$T/status"; fail "signer status through the socket passed by systemd-socket-activate" \
			"(a daemon that does not set O_NONBLOCK on fd 3 blocks in accept after the first client)"; }
	SIGNERD_SOCKET=$T/act.sock timeout 30 "$BIN/signer" sign-cab -o "$T/act-signed.cab" "$T/plain.cab" ||
		fail "sign-cab through the socket passed by systemd-socket-activate"
	verify_cab "$T/act-signed.cab" "$T/wsus.pem"
	grep -q "listening on the socket passed by systemd" "$T/signerd.log" ||
		{ cat "$T/signerd.log"; fail "signerd did not say it used the socket passed by systemd"; }
	[ ! -e "$T/signerd.sock" ] || fail "signerd bound socket.path although it was given a socket"
	[ "$(cat "/proc/$DAEMON_PID/comm")" = signerd ] || fail "the activated process is not signerd"
	daemon_stop_checked
	echo "ok   status and sign-cab through fd 3, verified by osslsigncode"
else
	skip_part "(c) systemd-socket-activate not installed"
fi

note "(d) Type=notify: READY, RELOADING, STOPPING"
if command -v python3 >/dev/null; then
	# A datagram socket standing in for systemd's notify socket; it logs each
	# message with the sender's PID (SCM_CREDENTIALS), which NotifyAccess=main
	# requires to be the main PID.
	cat >"$T/notify.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
s.settimeout(120)  # a backstop: the test kills it
with open(sys.argv[2], "a") as out:
    out.write("bound\n")
    out.flush()
    while True:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = -1
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", data[:12])[0]
        for line in msg.decode().splitlines():
            out.write("%d %s\n" % (pid, line))
        out.flush()
PY
	python3 "$T/notify.py" "$T/notify.sock" "$T/notify.log" >"$T/notify.err" 2>&1 &
	LISTENER=$!
	for _ in $(seq 1 50); do grep -q bound "$T/notify.log" 2>/dev/null && break; sleep 0.1; done
	grep -q bound "$T/notify.log" || fail "notify listener did not start"
	# wait_msgs N: wait until N messages arrived
	wait_msgs() {
		local _
		for _ in $(seq 1 150); do
			[ "$(grep -vc bound "$T/notify.log")" -ge "$1" ] && return 0
			sleep 0.1
		done
		cat "$T/notify.log" >&2
		fail "expected $1 notify messages"
	}
	write_config "$KEYS"
	NOTIFY_SOCKET=$T/notify.sock "$BIN/signerd" -f -c "$T/signerd.yaml" >>"$T/signerd.log" 2>&1 &
	DAEMON_PID=$!
	wait_msgs 1
	# READY=1 means serving: the socket answers at once.
	"$BIN/signer" status >/dev/null || fail "READY=1 sent before signerd serves"
	kill -HUP "$DAEMON_PID"
	wait_msgs 3
	"$BIN/signer" sign-cab -o "$T/notify-signed.cab" "$T/plain.cab"
	verify_cab "$T/notify-signed.cab" "$T/wsus.pem"
	kill -TERM "$DAEMON_PID"
	wait_msgs 4
	pid=$DAEMON_PID
	daemon_stop_checked
	grep -v bound "$T/notify.log" >"$T/notify.got"
	printf '%s READY=1\n%s RELOADING=1\n%s READY=1\n%s STOPPING=1\n' "$pid" "$pid" "$pid" "$pid" >"$T/notify.want"
	diff "$T/notify.want" "$T/notify.got" || fail "notify messages (want left, got right)"
	echo "ok   READY=1; SIGHUP: RELOADING=1, READY=1; SIGTERM: STOPPING=1; all from the main PID"
	kill "$LISTENER" 2>/dev/null || true
	wait "$LISTENER" 2>/dev/null || true
	LISTENER=
else
	skip_part "(d) python3 not installed (stands in for systemd's notify socket)"
fi

if [ ${#SKIPPED[@]} -gt 0 ]; then
	printf 'SKIPPED: %s\n' "${SKIPPED[@]}"
	exit 77
fi
note "deploy: all parts passed"
