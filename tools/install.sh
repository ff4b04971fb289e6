#!/usr/bin/env bash
# Install (or uninstall) emotion-edge as a systemd service on Raspberry Pi OS 12 (bookworm,
# Python 3.11) or Jetson Linux / JetPack 6 (Ubuntu 22.04, Python 3.10), aarch64; any Debian or
# Ubuntu works as "generic". Safe to run again: it upgrades in place.
#
#   sudo tools/install.sh [install] [options]     venv in /opt/emotion-edge/venv, config in
#                                                 /etc/emotion-edge, unit enabled
#   sudo tools/install.sh uninstall [--purge]     removes all but /etc/emotion-edge/config.yaml,
#                                                 mqtt_password, your drop-ins and the saved
#                                                 images in /var/lib/emotion-edge
# Options:
#   --board NAME            pi, jetson or generic (default: detected from the device tree).
#                           pi: apt's GStreamer (libcamerasrc) and python3-picamera2, a venv
#                           that sees apt's packages with apt's NumPy, the pi-camera drop-in.
#                           jetson: apt's GStreamer, the jetson drop-in (GPU, CSI cameras).
#                           Every board: the system's gi (PyGObject) linked into the venv, so
#                           that GStreamer sources work (docs/install.md says why a link)
#   --onnxruntime-gpu SPEC  replace PyPI's CPU onnxruntime by onnxruntime-gpu: SPEC is a wheel
#                           file or a pip index URL (NVIDIA's for JetPack 6:
#                           https://pypi.jetson-ai-lab.io/jp6/cu126); remembered for upgrades
#   --no-apt                install no apt packages (say which are missing instead)
#   --wheel FILE            install this wheel instead of building the checkout
#   --python PY             interpreter for the venv (default: python3; needs >= 3.10)
#   --system-site-packages  let the venv see apt's Python packages (python3-picamera2)
#   --example FILE          example config to install (default: config/config.example.yaml)
#   --root DIR              install below DIR instead of / (also: DESTDIR=DIR); for tests and
#                           staging: the venv's scripts then name DIR in their paths, so build
#                           an SD-card image by running this script inside its chroot instead
#   --dropin NAME           also install systemd/dropins/NAME.conf (pi-camera: a Raspberry Pi
#                           camera module via libcamera; jetson: GPU, decoders, CSI cameras);
#                           repeatable
#   --now                   also (re)start the service
#   --no-enable             install files only; leave systemd alone
#   --purge                 (uninstall) also delete the config, the password and saved images
# pip honours its own environment variables (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX...),
# e.g. PIP_NO_INDEX=1 PIP_FIND_LINKS=/media/usb/wheels for a device without internet.
set -euo pipefail

UNIT=emotion-edge.service
PREFIX=/opt/emotion-edge
VENV=$PREFIX/venv
CONF_DIR=/etc/emotion-edge
UNIT_DIR=/etc/systemd/system
STATE_DIRS=(/var/lib/emotion-edge /var/lib/private/emotion-edge)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

action=install wheel="" python=python3 site_packages=0 example="$REPO/config/config.example.yaml"
root=${DESTDIR:-} start_now=0 enable=1 purge=0 build_copy="" dropins=() board="" ort_gpu=""
use_apt=1 constraints=""
# apt packages per board: GStreamer through PyGObject everywhere; picamera2 on the Pi.
# libav: the H.264 decoder, without which no mp4 file or H.264 RTSP camera plays.
GST_PACKAGES=(python3-gi gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
              gstreamer1.0-libav)
PI_PACKAGES=("${GST_PACKAGES[@]}" gstreamer1.0-libcamera python3-picamera2)
JETSON_PACKAGES=("${GST_PACKAGES[@]}")

say() { printf 'emotion-edge: %s\n' "$*"; }
die() { printf 'emotion-edge: error: %s\n' "$*" >&2; exit 1; }
path() { printf '%s%s' "$root" "$1"; }  # a system path below the install root

parse_args() {
  if [[ $# -gt 0 && $1 != -* ]]; then action=$1; shift; fi
  [[ $action == install || $action == uninstall ]] || die "unknown command '$action' (install or uninstall)"
  while [[ $# -gt 0 ]]; do
    case $1 in
      --board) board=${2:?--board needs pi, jetson or generic}; shift ;;
      --onnxruntime-gpu) ort_gpu=${2:?--onnxruntime-gpu needs a wheel file or an index URL}; shift ;;
      --no-apt) use_apt=0 ;;
      --wheel) wheel=${2:?--wheel needs a file}; shift ;;
      --python) python=${2:?--python needs an interpreter}; shift ;;
      --system-site-packages) site_packages=1 ;;
      --example) example=${2:?--example needs a file}; shift ;;
      --root) root=${2:?--root needs a directory}; shift ;;
      --dropin) dropins+=("${2:?--dropin needs a name}"); shift ;;
      --now) start_now=1 ;;
      --no-enable) enable=0 ;;
      --purge) purge=1 ;;
      -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
  done
  root=${root%/}
  if [[ -n $root ]]; then
    mkdir -p "$root" && root=$(cd "$root" && pwd)
    [[ $root != / ]] || root=""
  fi
  if [[ -z $root && $(id -u) -ne 0 ]]; then die "run as root (sudo), or give --root DIR"; fi
}

# The board from the device tree (Raspberry Pi) or L4T's release file (Jetson).
detect_board() {
  local model=""
  [[ -r /proc/device-tree/model ]] && model=$(tr -d '\0' </proc/device-tree/model)
  if [[ $model == *"Raspberry Pi"* ]]; then echo pi
  elif [[ -e /etc/nv_tegra_release || $model == *Jetson* ]]; then echo jetson
  else echo generic
  fi
}

choose_board() {
  [[ -n $board ]] || board=$(detect_board)
  case $board in
    pi) site_packages=1; dropins+=(pi-camera) ;;  # picamera2 and its deps exist only in apt
    jetson) dropins+=(jetson) ;;
    generic) ;;
    *) die "unknown board '$board' (pi, jetson or generic)" ;;
  esac
  local seen=() name
  for name in "${dropins[@]}"; do [[ " ${seen[*]} " == *" $name "* ]] || seen+=("$name"); done
  dropins=("${seen[@]}")
}

# Install the board's apt packages that are missing (a live system with apt only).
install_apt_packages() {
  local wanted=() missing=() pkg
  case $board in
    pi) wanted=("${PI_PACKAGES[@]}") ;;
    jetson) wanted=("${JETSON_PACKAGES[@]}") ;;
    *) return 0 ;;  # generic: GStreamer is optional, linked if the system has it
  esac
  command -v dpkg-query >/dev/null || return 0
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if [[ $use_apt -eq 0 || -n $root ]] || ! command -v apt-get >/dev/null; then
    say "note: not installing apt packages here; the $board board wants: ${missing[*]}"
    return 0
  fi
  say "installing apt packages for the $board board: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" ||
    say "warning: apt could not install all of ${missing[*]} (GStreamer or picamera2 sources may not work)"
}

# True when PID 1 is systemd and we install into the running system.
systemd_live() { [[ -z $root && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

check_platform() {
  local arch os=unknown
  arch=$(uname -m)
  # shellcheck disable=SC1091
  [[ -r /etc/os-release ]] && os=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-$ID}")
  [[ $arch == aarch64 ]] || say "note: $arch, not aarch64; made for a Raspberry Pi or a Jetson, continuing"
  say "installing on $os ($arch), board $board, into ${root:-/}"
}

# The interpreter must be >= 3.10 and able to make venvs (Debian/Ubuntu split that off).
check_python() {
  command -v "$python" >/dev/null || die "no '$python' found; install python3 (apt-get install python3)"
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$("$python" -V 2>&1) is too old: emotion-edge needs Python 3.10 or newer"
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    if [[ -z $root && $(command -v "$python") == /usr/bin/python3* ]] && command -v apt-get >/dev/null; then
      say "installing python3-venv (apt) to create the virtual environment"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    else
      die "$python cannot create a venv: install python3-venv (apt-get install python3-venv)"
    fi
  fi
}

make_venv() {
  local venv opts=()
  venv=$(path "$VENV")
  if [[ $site_packages -eq 1 ]]; then opts+=(--system-site-packages); fi
  if [[ -x $venv/bin/python ]] && "$venv/bin/python" -c 'import pip' 2>/dev/null &&
     { [[ $site_packages -eq 0 ]] || grep -qs 'include-system-site-packages = true' "$venv/pyvenv.cfg"; }; then
    say "reusing the virtual environment $venv"
  else
    say "creating the virtual environment $venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv --clear "${opts[@]}" "$venv"
  fi
}

install_package() {
  local venv pip source
  venv=$(path "$VENV")
  pip=("$venv/bin/python" -m pip --disable-pip-version-check)
  if [[ -n $wheel ]]; then
    source=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
  else
    # Build from a copy: setuptools writes build/ and *.egg-info into the tree it builds, and
    # leftovers in build/ can end up in the package; the checkout also stays the user's.
    build_copy=$(mktemp -d)
    trap 'rm -rf "$build_copy"' EXIT
    tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./.assets --exclude=./build \
      --exclude='*.egg-info' --exclude=__pycache__ --exclude=./test-artifacts -cf - . |
      tar -C "$build_copy" -xf -
    source=$build_copy
  fi
  # Uninstall first so that a rebuilt checkout of the same version really replaces the old
  # code; the dependencies stay and pip only fetches what changed.
  "${pip[@]}" uninstall -y -q emotion-edge >/dev/null 2>&1 || true
  say "installing ${wheel:-$REPO} (pip; the dependencies come as wheels from PyPI)"
  local install=(install -q)
  if [[ $board == pi ]]; then
    # apt's NumPy is what picamera2 and simplejpeg are built against: keep it the venv's
    # (numpy<2 lets pip take it as installed instead of shadowing it with NumPy 2).
    constraints=$(mktemp)
    echo "numpy<2" >"$constraints"
    install+=(--constraint "$constraints")
  fi
  "${pip[@]}" "${install[@]}" "$source"
  [[ -z $constraints ]] || rm -f "$constraints"
  [[ -x $venv/bin/emotion-edge ]] || die "pip did not install the emotion-edge command"
  install_onnxruntime_gpu
  "$venv/bin/python" "$REPO/tools/link_system_gi.py" --venv "$venv" 2>&1 | sed 's/^/emotion-edge: /' ||
    true
  "$venv/bin/python" - <<'EOF' || say "warning: no bundled models found in the package"
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("edge_daemon")
models = sorted(p.name for p in (pathlib.Path(spec.origin).parent / "models").glob("*.onnx"))
print("emotion-edge: bundled models:", ", ".join(models) or "none")
sys.exit(0 if models else 1)
EOF
  [[ ! -f $REPO/README.md ]] || install -m 0644 "$REPO/README.md" "$(path "$PREFIX")/README.md"
  # The README links into docs/: the pages go beside it, so that its links work on the board.
  if [[ -d $REPO/docs ]]; then
    install -d -m 0755 "$(path "$PREFIX")/docs"
    install -m 0644 "$REPO"/docs/*.md "$REPO"/docs/*.png "$(path "$PREFIX")/docs/"
  fi
}

# PyPI's onnxruntime is CPU-only and onnxruntime-gpu has no aarch64 wheel there: NVIDIA
# builds one per JetPack. Both install the same `onnxruntime` module, so the CPU one goes.
# The spec is remembered: an upgrade (which pulls the CPU wheel back in) repeats the swap.
install_onnxruntime_gpu() {
  local venv remembered pip spec
  venv=$(path "$VENV")
  remembered=$(path "$PREFIX")/onnxruntime-gpu.source
  if [[ -z $ort_gpu && -f $remembered ]]; then ort_gpu=$(cat "$remembered"); fi
  [[ -n $ort_gpu ]] || return 0
  pip=("$venv/bin/python" -m pip --disable-pip-version-check)
  if [[ -f $ort_gpu ]]; then
    ort_gpu=$(cd "$(dirname "$ort_gpu")" && pwd)/$(basename "$ort_gpu")
    spec=("$ort_gpu")
  else
    spec=(--extra-index-url "$ort_gpu" onnxruntime-gpu)
  fi
  say "replacing onnxruntime by onnxruntime-gpu ($ort_gpu)"
  "${pip[@]}" uninstall -y -q onnxruntime >/dev/null 2>&1 || true
  if ! "${pip[@]}" install -q --force-reinstall --no-deps "${spec[@]}"; then
    say "warning: onnxruntime-gpu did not install; putting the CPU onnxruntime back"
    "${pip[@]}" install -q onnxruntime
    return 0
  fi
  printf '%s\n' "$ort_gpu" >"$remembered"
}

# What the daemon will run on: `emotion-edge probe` (providers, each model's nodes,
# GStreamer, picamera2, cameras) from the installed venv.
report_runtime() {
  local report
  if ! report=$("$(path "$VENV")/bin/emotion-edge" probe 2>&1); then
    say "warning: 'emotion-edge probe' failed in the new venv:"
    printf '%s\n' "$report" | sed 's/^/  /'
    return 0
  fi
  say "what this machine offers (emotion-edge probe):"
  printf '%s\n' "$report" | sed 's/^/  /'
  if [[ $board == jetson && $report != *CUDAExecutionProvider* ]]; then
    say "note: no CUDA provider: inference runs on the CPU; for the GPU give --onnxruntime-gpu"
    say "(docs/install.md#jetson-jetpack-6)"
  fi
}

install_config() {
  local dir
  dir=$(path "$CONF_DIR")
  install -d -m 0755 "$dir"
  # Root-owned and world-readable: the service's dynamic user must read it. Secrets do not
  # belong here; the MQTT password goes to $CONF_DIR/mqtt_password (0600), see below.
  install -m 0644 "$example" "$dir/config.example.yaml"
  # The secret files LoadCredential= reads: root-only, empty = no MQTT password / no token.
  for secret in mqtt_password websocket_token; do
    [[ -e $dir/$secret ]] || install -m 0600 /dev/null "$dir/$secret"
  done
  if [[ -e $dir/config.yaml ]]; then
    say "kept your $CONF_DIR/config.yaml (the new example is $CONF_DIR/config.example.yaml)"
  else
    install -m 0644 "$example" "$dir/config.yaml"
    say "installed $CONF_DIR/config.yaml from the example: edit it for your cameras and broker"
  fi
}

install_unit() {
  local name
  install -D -m 0644 "$REPO/systemd/$UNIT" "$(path "$UNIT_DIR")/$UNIT"
  for name in "${dropins[@]}"; do
    install -D -m 0644 "$REPO/systemd/dropins/$name.conf" "$(path "$UNIT_DIR")/$UNIT.d/50-$name.conf"
    say "installed the $name drop-in: $UNIT_DIR/$UNIT.d/50-$name.conf"
  done
  [[ $enable -eq 1 ]] || { say "--no-enable: systemd left alone"; return; }
  if systemd_live; then
    getent group video >/dev/null || say "warning: no 'video' group; the unit's SupplementaryGroups=video will fail"
    systemctl daemon-reload
    if [[ $start_now -eq 1 ]]; then
      systemctl enable -q "$UNIT" && systemctl restart "$UNIT"
      say "enabled and (re)started $UNIT"
    else
      systemctl enable -q "$UNIT"
      systemctl try-restart "$UNIT"  # an upgrade of a running service takes effect now
      say "enabled $UNIT; start it with: systemctl start emotion-edge"
    fi
  elif command -v systemctl >/dev/null && systemctl --root="${root:-/}" enable -q "$UNIT" 2>/dev/null; then
    say "systemd is not running here (chroot, container or --root): enabled $UNIT offline; no daemon-reload, no start"
  else
    say "systemctl is not usable here: enable by hand with 'systemctl enable $UNIT'"
  fi
}

# Everything the install needs, checked before the slow part starts.
check_inputs() {
  [[ -z $wheel || -f $wheel ]] || die "wheel '$wheel' not found"
  [[ -n $wheel || -f $REPO/pyproject.toml ]] || die "$REPO is not an emotion-edge checkout; use --wheel FILE"
  [[ -f $example ]] || die "example config '$example' not found (give one with --example FILE)"
  [[ -f $REPO/systemd/$UNIT ]] || die "unit file $REPO/systemd/$UNIT not found"
  local name known=()
  for name in "$REPO"/systemd/dropins/*.conf; do known+=("$(basename "$name" .conf)"); done
  for name in "${dropins[@]}"; do
    [[ -f $REPO/systemd/dropins/$name.conf ]] || die "no drop-in '$name' (there are: ${known[*]})"
  done
}

do_install() {
  choose_board
  check_inputs
  check_platform
  install_apt_packages
  check_python
  make_venv
  install_package
  report_runtime
  install_config
  install_unit
  cat <<EOF
emotion-edge: done. Next:
  edit $CONF_DIR/config.yaml
  MQTT password, if the broker wants one (root-only file, read by systemd, never in the YAML):
    systemd-ask-password "MQTT password:" > $CONF_DIR/mqtt_password
  systemctl restart emotion-edge && journalctl -fu emotion-edge
EOF
}

do_uninstall() {
  if systemd_live; then
    systemctl disable --now -q "$UNIT" 2>/dev/null || true
  elif command -v systemctl >/dev/null; then
    systemctl --root="${root:-/}" disable -q "$UNIT" 2>/dev/null || true
  fi
  rm -f "$(path "$UNIT_DIR")/$UNIT" "$(path "$UNIT_DIR")/multi-user.target.wants/$UNIT"
  rmdir "$(path "$UNIT_DIR")/multi-user.target.wants" 2>/dev/null || true  # if we made it
  local dropin
  for dropin in "$REPO"/systemd/dropins/*.conf; do  # ours; the user's own drop-ins stay
    rm -f "$(path "$UNIT_DIR")/$UNIT.d/50-$(basename "$dropin")"
  done
  rmdir "$(path "$UNIT_DIR")/$UNIT.d" 2>/dev/null || true
  ! systemd_live || systemctl daemon-reload
  rm -rf "$(path "$PREFIX")"
  rm -f "$(path "$CONF_DIR")/config.example.yaml"
  if [[ $purge -eq 1 ]]; then
    rm -rf "$(path "$CONF_DIR")" "$(path "$UNIT_DIR")/$UNIT.d"
    for dir in "${STATE_DIRS[@]}"; do rm -rf "$(path "$dir")"; done
    say "uninstalled and purged the config, the password and the saved images"
    return
  fi
  rmdir "$(path "$CONF_DIR")" 2>/dev/null || true  # only if nothing of the user's is left
  say "uninstalled; kept $CONF_DIR (your config and password), $UNIT_DIR/$UNIT.d (your drop-ins)"
  say "and /var/lib/emotion-edge (saved images); 'uninstall --purge' deletes them too"
}

parse_args "$@"
if [[ $action == install ]]; then do_install; else do_uninstall; fi
