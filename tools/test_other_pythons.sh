#!/usr/bin/env bash
# The daemon's tests under the other Pythons the boards run (3.10 on JetPack 6, 3.12 on newer
# systems), so that syntax, a typing construct or a dependency resolution that breaks only
# there is caught. The daemon is installed with its bench and test extras, not the export
# one (torch is 5.6 GB, and the export tool runs on a PC). Export and model-building tests
# (tests/export, tests/tools) need that extra, and the install and systemd tests
# (tests/service) exercise bash and systemd, not Python, and Home Assistant runs on its own
# Python 3.13 (tests/homeassistant): all four are left to the main run.
#
#   tools/test_other_pythons.sh [VERSION...]     default: 3.10 3.12; venvs in .venv-pyX.Y
#
# An interpreter is looked for as pythonX.Y on PATH, then under pyenv's versions.
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
((${#versions[@]})) || versions=(3.10 3.12)

find_python() {
  local version=$1 found
  # pyenv's shims are on PATH for every version but run only the selected ones: try it.
  if found=$(command -v "python$version") && "$found" -V >/dev/null 2>&1; then
    echo "$found"; return
  fi
  for found in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/python"$version"; do
    [[ -x $found ]] && { echo "$found"; return; }
  done
  return 1
}

# Installed one after the other (an editable install writes into the checkout), tested side
# by side: each suite mostly waits on daemons, brokers and timeouts, so two share two cores.
declare -A logs pids started
for version in "${versions[@]}"; do
  python=$(find_python "$version") || { echo "test_other_pythons: no Python $version found" >&2; exit 1; }
  venv=.venv-py$version
  started[$version]=$SECONDS
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[bench,test]"
  echo "== Python $("$venv/bin/python" -V 2>&1 | cut -d' ' -f2): installed in $((SECONDS - started[$version])) s"
done
for version in "${versions[@]}"; do
  logs[$version]=$(mktemp "/tmp/emotion-edge-py$version.XXXXXX.log")
  # A base temp of its own: pytest prunes old numbered temp dirs, another run's included.
  ".venv-py$version/bin/python" -m pytest -q -p no:cacheprovider \
    --basetemp="/tmp/emotion-edge-py$version" --ignore=tests/export --ignore=tests/tools \
    --ignore=tests/service --ignore=tests/homeassistant --durations=10 tests \
    >"${logs[$version]}" 2>&1 &
  pids[$version]=$!
done
status=0
for version in "${versions[@]}"; do
  result=passed
  wait "${pids[$version]}" || { result=FAILED; status=1; }
  echo "== Python $version: the daemon's tests $result ($((SECONDS - started[$version])) s since its install began):"
  cat "${logs[$version]}"
  rm -f "${logs[$version]}"
done
exit $status
