#!/usr/bin/env bash
# Install the Debian 12 packages signerd builds and tests with (needs root).
# Packages already present are left alone, so a newer osslsigncode (2.9 from
# bookworm-backports) is kept if the machine has it.
set -euo pipefail
pkgs=(cmake gcc make pkg-config clang clang-format libclang-rt-14-dev libssl-dev libcurl4-openssl-dev libp11-dev
	libengine-pkcs11-openssl libyaml-dev libcunit1-dev libp11-kit-dev softhsm2 gcab
	osslsigncode opensc p11-kit util-linux passwd valgrind systemd python3)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing packages: ${missing[*]}; run as root or install them" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
