#!/usr/bin/env bash
# Install (or uninstall) emotion-edge as a systemd service on Raspberry Pi OS (bookworm) or
# Jetson Linux (Ubuntu 22.04), aarch64. Safe to run again: it upgrades in place.
#
#   sudo tools/install.sh [install] [options]     venv in /opt/emotion-edge/venv, config in
#                                                 /etc/emotion-edge, unit enabled
#   sudo tools/install.sh uninstall [--purge]     removes all but /etc/emotion-edge/config.yaml,
#                                                 mqtt_password, your drop-ins and the saved
#                                                 images in /var/lib/emotion-edge
# Options:
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
root=${DESTDIR:-} start_now=0 enable=1 purge=0 build_copy="" dropins=()

say() { printf 'emotion-edge: %s\n' "$*"; }
die() { printf 'emotion-edge: error: %s\n' "$*" >&2; exit 1; }
path() { printf '%s%s' "$root" "$1"; }  # a system path below the install root

parse_args() {
  if [[ $# -gt 0 && $1 != -* ]]; then action=$1; shift; fi
  [[ $action == install || $action == uninstall ]] || die "unknown command '$action' (install or uninstall)"
  while [[ $# -gt 0 ]]; do
    case $1 in
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

# True when PID 1 is systemd and we install into the running system.
systemd_live() { [[ -z $root && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

check_platform() {
  local arch os=unknown
  arch=$(uname -m)
  # shellcheck disable=SC1091
  [[ -r /etc/os-release ]] && os=$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-$ID}")
  [[ $arch == aarch64 ]] || say "note: $arch, not aarch64; made for a Raspberry Pi or a Jetson, continuing"
  say "installing on $os ($arch) into ${root:-/}"
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
  "${pip[@]}" install -q "$source"
  [[ -x $venv/bin/emotion-edge ]] || die "pip did not install the emotion-edge command"
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
  check_inputs
  check_platform
  check_python
  make_venv
  install_package
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
