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

status=0
for version in "${versions[@]}"; do
  python=$(find_python "$version") || { echo "test_other_pythons: no Python $version found" >&2; exit 1; }
  venv=.venv-py$version
  started=$SECONDS
  [[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[bench,test]"
  installed=$((SECONDS - started))
  echo "== Python $("$venv/bin/python" -V 2>&1 | cut -d' ' -f2): installed in ${installed} s; the daemon's tests:"
  # A base temp of its own: pytest prunes old numbered temp dirs, another run's included.
  if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider --basetemp="/tmp/emotion-edge-py$version" \
      --ignore=tests/export --ignore=tests/tools --ignore=tests/service \
      --ignore=tests/homeassistant --durations=10 tests; then
    status=1
  fi
  echo "== Python $version: $((SECONDS - started)) s in all"
done
exit $status
