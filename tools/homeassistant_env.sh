#!/usr/bin/env bash
# Build (or reuse) a venv with a pinned Home Assistant for the tests that drive a real one
# (tests/homeassistant.py starts `<venv>/bin/hass` from it; nothing of Home Assistant goes
# into the project's .venv).
#
#   tools/homeassistant_env.sh [--rebuild] [--print-venv]
#
# The venv is ${EMOTION_EDGE_HA_VENV:-/var/cache/emotion-edge/homeassistant-<version>}, so a
# machine that keeps /var/cache builds it once. It counts as built only when its marker
# holds this recipe: a venv that an interrupted run left half-built, or one of another
# recipe, is removed and built again.
#
# How, as upstream does (its Dockerfile and homeassistant/util/package.py install everything
# with `--constraint homeassistant/package_constraints.txt`):
#   1. download the homeassistant wheel and take the package_constraints.txt it ships;
#   2. pip install that wheel with -c package_constraints.txt;
#   3. pip install, with the same constraints, every requirement Home Assistant would
#      pip-install when it sets up the integrations below, found by
#      tools/homeassistant_requirements.py from the installed manifests: the integrations
#      bootstrap always sets up, MQTT and the platforms our discovery uses, and what they
#      depend on;
#   4. check them all as Home Assistant does before it installs anything, so that it starts
#      without pip (the tests also pass --skip-pip, where a missing one fails loudly).
#
# --rebuild      remove the venv and build it again
# --print-venv   print the venv's path on the last line of stdout (for scripts)
#
# Needs: Python >= 3.13.0 ($EMOTION_EDGE_HA_PYTHON; default pyenv's 3.13.0, else python3.13
# on PATH), flock, PyPI, and write access to the venv's folder (not root? set
# EMOTION_EDGE_HA_VENV).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The newest 2025 release whose Requires-Python accepts 3.13.0: from 2025.5 on it is >=3.13.2.
HA_VERSION=2025.4.4
PYENV_PYTHON=/root/.pyenv/versions/3.13.0/bin/python3.13
if [[ -x $PYENV_PYTHON ]]; then default_python=$PYENV_PYTHON
else default_python=$(command -v python3.13 || true); fi
PYTHON=${EMOTION_EDGE_HA_PYTHON:-$default_python}
VENV=${EMOTION_EDGE_HA_VENV:-/var/cache/emotion-edge/homeassistant-$HA_VERSION}
# What the tests' configuration sets up, beyond what bootstrap always sets up.
DOMAINS=(http api websocket_api mqtt sensor binary_sensor switch event)
# Bump when the way the venv is built changes: a venv with another marker is rebuilt.
RECIPE="1; homeassistant==$HA_VERSION; -c package_constraints.txt; ${DOMAINS[*]}"
MARKER=$VENV/.emotion-edge-recipe

rebuild=0 print_venv=0
for arg in "$@"; do
  case $arg in
    --rebuild) rebuild=1 ;;
    --print-venv) print_venv=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "homeassistant-env: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'homeassistant-env: %s\n' "$*"; }
die() { printf 'homeassistant-env: error: %s\n' "$*" >&2; exit 1; }

now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
since() {  # seconds since a now_us, to a tenth
  local us=$(($(now_us) - $1))
  printf '%d.%d s' $((us / 1000000)) $((us / 100000 % 10))
}
# step NAME COMMAND...: run one step and print how long it took.
step() {
  local name=$1 start
  start=$(now_us)
  shift
  say "$name ..."
  "$@"
  say "$name: $(since "$start")"
}

# Run through step, which shellcheck cannot follow:
# shellcheck disable=SC2317
new_venv() { rm -rf "$VENV" && "$PYTHON" -m venv "$VENV"; }

total_start=$(now_us)
mkdir -p "$(dirname "$VENV")"
# Two runs at once (two checkouts, a developer and CI) must not build the same venv together.
exec 9>"$VENV.lock"
flock 9

if ((rebuild)) || [[ ! -f $MARKER || $(<"$MARKER") != "$RECIPE" ]]; then
  [[ -n $PYTHON && -x $PYTHON ]] ||
    die "no Python 3.13 at '$PYTHON' (set EMOTION_EDGE_HA_PYTHON to one)"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  pip=("$VENV/bin/python" -m pip --disable-pip-version-check)

  step "new venv $VENV ($("$PYTHON" --version))" new_venv
  step "download homeassistant==$HA_VERSION" \
    "${pip[@]}" download -q --no-deps -d "$download" "homeassistant==$HA_VERSION"
  wheel=$(echo "$download"/homeassistant-"$HA_VERSION"-*.whl)
  # The constraints are inside the wheel (homeassistant/package_constraints.txt); kept
  # beside the venv for step 3 and for anyone reproducing it by hand.
  step "take package_constraints.txt from the wheel" \
    "$PYTHON" -c 'import sys, zipfile; open(sys.argv[2], "wb").write(
      zipfile.ZipFile(sys.argv[1]).read("homeassistant/package_constraints.txt"))' \
    "$wheel" "$VENV/package_constraints.txt"
  step "install homeassistant==$HA_VERSION -c package_constraints.txt" \
    "${pip[@]}" install -q -c "$VENV/package_constraints.txt" "$wheel"
  "$VENV/bin/python" "$REPO/tools/homeassistant_requirements.py" "${DOMAINS[@]}" \
    >"$VENV/integration_requirements.txt"
  say "integration requirements: $(tr '\n' ' ' <"$VENV/integration_requirements.txt")"
  step "install the integrations' requirements -c package_constraints.txt" \
    "${pip[@]}" install -q -c "$VENV/package_constraints.txt" \
    -r "$VENV/integration_requirements.txt"
  step "check that Home Assistant finds nothing to install" \
    "$VENV/bin/python" "$REPO/tools/homeassistant_requirements.py" --check "${DOMAINS[@]}"
  printf '%s' "$RECIPE" >"$MARKER"
  say "built $VENV in $(since "$total_start")"
else
  # Cheap: the marker is only written after the check passed.
  step "reuse $VENV" "$VENV/bin/python" -c 'import homeassistant.const as c; print(c.__version__)'
  say "ready in $(since "$total_start")"
fi
((print_venv)) && echo "$VENV"
exit 0
