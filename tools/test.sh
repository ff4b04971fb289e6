#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian/Ubuntu machine, then run them.
# Usage: tools/test.sh [pytest args...]      (apt packages need root or sudo)
# Without arguments (CI): the main suite, then the daemon's tests under Python 3.10 and 3.12
# (tools/test_other_pythons.sh), then the install on arm64 by emulation (tools/check_arm64.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(mosquitto prometheus systemd python3-venv chromium
  # GStreamer sources through PyGObject, and the RTSP server their tests start
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
  # tools/check_arm64.sh: a Debian arm64 root, run by emulation without binfmt handlers
  debootstrap proot qemu-user-static)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# (The tests start their own broker and Prometheus on free loopback ports; no system service
# is needed.)

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[export,models,bench,test]"
# The distribution's gi, and only it, as tools/install.sh does on a board.
.venv/bin/python tools/link_system_gi.py --venv .venv
.venv/bin/python tools/fetch_assets.py
[ ! -f tools/build_face_set.py ] || .venv/bin/python tools/build_face_set.py

# The arm64 check (an emulated Debian root: downloads, then one emulated core's work) goes
# on beside the test suites in a full run; its log is printed at the end.
arm64_pid=""
if (($# == 0)) && [[ -f tools/check_arm64.sh ]]; then
  arm64_log=$(mktemp /tmp/emotion-edge-arm64.XXXXXX.log)
  bash tools/check_arm64.sh --quick >"$arm64_log" 2>&1 &
  arm64_pid=$!
fi

# A real Home Assistant for tests/homeassistant (cached in /var/cache where that survives).
bash tools/homeassistant_env.sh

.venv/bin/ruff check .
# With arguments, a part of the main suite (a developer's run); without, all CI does.
(($#)) && exec .venv/bin/python -m pytest -q "$@"
status=0
# The Home Assistant tests must run, not skip, in a full run.
EMOTION_EDGE_REQUIRE_HA=1 .venv/bin/python -m pytest -q || status=1
bash tools/test_other_pythons.sh 3.10 3.12 || status=1
if [[ -n $arm64_pid ]]; then
  wait "$arm64_pid" || status=1
  cat "$arm64_log"
fi
exit $status
