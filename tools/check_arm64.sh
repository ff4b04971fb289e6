#!/usr/bin/env bash
# Prove on an x86-64 machine, by emulation, that emotion-edge installs on arm64 and gives
# there the results it gives here, frame by frame.
#
#   tools/check_arm64.sh [--quick] [--report FILE] [options]
#
# 1. a Debian 12 (bookworm) arm64 root, like Raspberry Pi OS 12 (debootstrap, then apt-get
#    inside through proot + qemu-user; no binfmt handler, no kernel module), cached in
#    $EMOTION_EDGE_ARM64_ROOT (default /var/cache/emotion-edge/arm64-root), rebuilt when
#    missing or of an older recipe;
# 2. tools/install.sh --no-enable inside it, against this checkout (bound at /src);
# 3. the daemon on a registry face video there (QEMU_CPU=cortex-a72, a Raspberry Pi 4's
#    core) and here (.venv), one file camera handing over every frame, results over MQTT to
#    a mosquitto started on a free loopback port, recorded by tools/arm64_results.py;
# 4. the two recordings compared frame by frame (faces, boxes within 1 px, top-1, probabilities
#    within 1e-3); the full run also repeats the arm64 run with QEMU_CPU=max;
# 5. GStreamer in the root (gst-launch, gi) and a camera of type gstreamer;
# 6. onnxruntime's providers and optimized graphs per bundled model (arm64 vs x86-64) and
#    the daemon's peak resident memory;
# then a short report (and its JSON with --report FILE). Exit status 1 on any failure or
# mismatch.
#
# Options:
#   --quick          install and about 10 frames (for CI); no QEMU_CPU=max run
#   --frames N       full run on the first N frames only (default: the whole video)
#   --video FILE     a video with faces (default: .assets/feat-test-data/WolfgangLanger_Pexels.mp4)
#   --report FILE    also write the report as JSON
#   --rebuild        rebuild the arm64 root even if the cached one is current
#   --keep-install   keep the root's previous /opt/emotion-edge (an upgrade in place)
#                    instead of a fresh install
#   --no-cpu-max     skip the QEMU_CPU=max run of the full mode
#   --work DIR       state directory (default: a new one under /tmp); kept with --keep or
#                    when something failed
#   --keep           keep the state directory
#
# Needs (Debian 12 host, as root): debootstrap, proot, qemu-user-static, mosquitto, and
# this checkout's .venv (paho-mqtt, opencv, onnxruntime, onnx). Network: deb.debian.org
# and PyPI. Made for Debian 12's proot 5.1.0 and qemu 7.2: see the notes at in_root().

# The step functions run through step/must/try, which shellcheck cannot follow:
# shellcheck disable=SC2317
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER=$REPO/tools/arm64_results.py
HOST_VENV=${EMOTION_EDGE_HOST_VENV:-$REPO/.venv}
HOST_PY=$HOST_VENV/bin/python
ROOT=${EMOTION_EDGE_ARM64_ROOT:-/var/cache/emotion-edge/arm64-root}
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
# What a Raspberry Pi OS 12 user has for emotion-edge (Python, venv, GStreamer through gi).
APT_PACKAGES=(python3 python3-venv python3-gi gir1.2-gstreamer-1.0 gstreamer1.0-plugins-base
              gstreamer1.0-plugins-good gstreamer1.0-tools ca-certificates)
# Bump when the root's recipe changes: a root with another marker is rebuilt.
RECIPE="4; $SUITE arm64 minbase; $MIRROR; ${APT_PACKAGES[*]}; signed-by; policy-rc.d 101; systemd-tmpfiles stub"
MARKER=.emotion-edge-arm64-recipe
PI_CPU=cortex-a72            # Raspberry Pi 4 (BCM2711)
INSTALLED=/opt/emotion-edge/venv/bin
RUN_TIMEOUT=2400             # seconds for one emulated daemon run (full video: ~4 min)
MAX_FRAMES=60                # QEMU_CPU=max emulates SVE and pointer auth: ~10x slower
GST_FACES=5 GST_LIMIT=600    # the gstreamer camera: results with a face wanted, seconds

mode=full frames=0 video=$REPO/.assets/feat-test-data/WolfgangLanger_Pexels.mp4 report=""
rebuild=0 keep_install=0 cpu_max=1 work="" keep=0

say() { printf 'check-arm64: %s\n' "$*"; }
die() { printf 'check-arm64: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

parse_args() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      --quick) mode=quick ;;
      --frames) frames=${2:?--frames needs a number}; shift ;;
      --video) video=${2:?--video needs a file}; shift ;;
      --report) report=${2:?--report needs a file}; shift ;;
      --rebuild) rebuild=1 ;;
      --keep-install) keep_install=1 ;;
      --no-cpu-max) cpu_max=0 ;;
      --work) work=${2:?--work needs a directory}; shift ;;
      --keep) keep=1 ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
  done
  [[ $frames =~ ^[0-9]+$ ]] || die "--frames needs a number"
  if [[ $mode == quick ]]; then frames=10 cpu_max=0; fi
  [[ -z $report ]] || report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
}

# ---------------------------------------------------------------------------------------------
# Steps: each runs in a subshell with errexit on, is timed, and leaves a line in
# $WORK/steps.tsv for the report. step itself always returns 0 and leaves the function's
# status in STEP_RC: called from `if`, `&&` or `||`, bash would run the function (and any
# subshell in it) with errexit off, so a failing command in the middle would go unnoticed.

step() {  # step NAME FUNCTION [ARGS...]; sets STEP_RC
  local name=$1 start end rc status log
  shift
  log=$WORK/logs/${name//[^A-Za-z0-9_.-]/_}.log
  : >"$WORK/.note"
  : >"$WORK/.status"
  say "$name ..."
  start=$EPOCHREALTIME
  set +e
  (set -e; "$@") >>"$log" 2>&1
  rc=$?
  set -e
  end=$EPOCHREALTIME
  status=ok
  [[ ! -s $WORK/.status ]] || status=$(<"$WORK/.status")
  [[ $rc -eq 0 ]] || status=fail
  local seconds
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  local notes
  notes=$(grep -v '^$' "$WORK/.note" | tr '\t' ' ' | paste -sd '|' | sed 's/|/ | /g' || true)
  printf '%s\t%s\t%s\t%s\n' "$name" "$seconds" "$status" "$notes" >>"$WORK/steps.tsv"
  say "  $status in ${seconds} s${notes:+: $notes}"
  if [[ $rc -ne 0 ]]; then
    say "  last lines of $log:"
    tail -n 25 "$log" | sed 's/^/    /'
  fi
  STEP_RC=$rc
}
must() {  # must NAME FUNCTION [ARGS...]: a step the later ones need; on failure, no more
  [[ $fatal -eq 0 ]] || return 0
  step "$@"
  [[ $STEP_RC -eq 0 ]] || fatal=1
}
try() {  # try NAME FUNCTION [ARGS...]: a step whose failure fails the check but stops nothing
  [[ $fatal -eq 0 ]] || return 0
  step "$@"
}
note() { printf '%s\n' "$*" >>"$WORK/.note"; }       # a remark for the step's line
mark() { printf '%s' "$1" >"$WORK/.status"; }        # cached / skip instead of ok
fact() { printf '%s\t%s\n' "$1" "$2" >>"$WORK/facts.tsv"; }  # KEY VALUE for the report

# Poll until a command succeeds, up to a deadline; never a fixed sleep.
wait_for() {  # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
gone() { ! kill -0 "$1" 2>/dev/null; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Running arm64 programs: proot (-0: a fake root, which debootstrap, apt and install.sh need)
# executing everything through qemu-aarch64-static; nothing is registered with the kernel.
#
# Two workarounds, both of Debian 12's tools, not of the project:
# - proot 5.1.0 does not translate the paths of faccessat2 (glibc's `[ -x FILE ]` in bash
#   and dash) and statx (coreutils' ls, stat, cp): they look at the HOST's file.
#   arm64_results.py's proot-fix adds a seccomp filter that answers ENOSYS for both, and
#   glibc falls back to fstatat, which proot translates.
# - qemu 7.2 does not emulate /proc/cpuinfo for aarch64 guests: programs read the host's x86
#   one, and onnxruntime's cpuinfo crashes on it (SIGSEGV on `import onnxruntime`). A
#   Raspberry Pi 4's /proc/cpuinfo (Cortex-A72, or a generic one for QEMU_CPU=max) is bound
#   over it instead.
# The environment is cleared (env -i): nothing of the host's pip or Python settings leaks in.

root_cmd() {  # root_cmd DIR CPU: sets ROOT_CMD to the argv prefix of a command in the root
  local dir=$1 cpu=$2 var passthrough=()
  for var in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [[ -z ${!var:-} ]] || passthrough+=("$var=${!var}")
  done
  ROOT_CMD=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
            HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive
            QEMU_CPU="$cpu" "${passthrough[@]}"
            "$HOST_PY" "$HELPER" proot-fix --
            proot -0 -q qemu-aarch64-static -r "$dir" -w /
            -b /dev -b /proc -b /sys -b "$REPO:/src")
  [[ ! -d ${WORK:-} ]] || ROOT_CMD+=(-b "$WORK:/work")
  if [[ -f $WORK/cpuinfo-$cpu ]]; then ROOT_CMD+=(-b "$WORK/cpuinfo-$cpu:/proc/cpuinfo"); fi
}
in_root() {  # in_root CPU COMMAND...: run an arm64 command in the cached root
  local cpu=$1
  shift
  root_cmd "$ROOT" "$cpu"
  "${ROOT_CMD[@]}" "$@"
}

# A /proc/cpuinfo as the emulated CPU would show it: the features from the auxiliary
# vector qemu gives programs, the MIDR of a Raspberry Pi 4's Cortex-A72 (or none for max).
write_cpuinfo() {  # write_cpuinfo CPU
  local cpu=$1 features implementer=0x00 part=0x000 revision=0 n i
  features=$(in_root "$cpu" /usr/bin/python3 /src/tools/arm64_results.py cpu-features)
  if [[ $cpu == cortex-a72 ]]; then implementer=0x41 part=0xd08 revision=3; fi
  n=$(nproc)
  {
    for ((i = 0; i < n; i++)); do
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\n' "$i" "$features"
      printf 'CPU implementer\t: %s\nCPU architecture: 8\nCPU variant\t: 0x0\n' "$implementer"
      printf 'CPU part\t: %s\nCPU revision\t: %s\n\n' "$part" "$revision"
    done
    if [[ $cpu == cortex-a72 ]]; then
      printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n'
    fi
  } >"$WORK/cpuinfo-$cpu"
  note "QEMU_CPU=$cpu: $features"
  fact "cpu features QEMU_CPU=$cpu" "$features"
}

# ---------------------------------------------------------------------------------------------
# The arm64 root

root_is_current() { [[ -f $ROOT/$MARKER && $(<"$ROOT/$MARKER") == "$RECIPE" ]]; }

reuse_root() {
  mark cached
  note "$ROOT, recipe $(<"$ROOT/$MARKER")"
  fact "root" "$ROOT (cached)"
}

root_first_stage() {  # downloads and unpacks the arm64 packages (host tools only)
  rm -rf "$ROOT.new"
  mkdir -p "$ROOT.new"
  debootstrap --foreign --arch=arm64 --variant=minbase "$SUITE" "$ROOT.new" "$MIRROR"
}

root_second_stage() {  # runs the packages' scripts: arm64 programs, emulated
  root_cmd "$ROOT.new" "$PI_CPU"
  # The debootstrap script finds its own files through DEBOOTSTRAP_DIR (its `[ -x ]` test
  # of /debootstrap/debootstrap is what faccessat2 broke; set anyway, it costs nothing).
  "${ROOT_CMD[@]}" /usr/bin/env DEBOOTSTRAP_DIR=/debootstrap /debootstrap/debootstrap --second-stage
}

root_packages() {
  local new=$ROOT.new
  # apt-key's merged keyring fails under proot (gpgv: add_keyblock_resource); a keyring
  # named per source avoids apt-key altogether.
  cat >"$new/etc/apt/sources.list" <<EOF
deb [signed-by=$KEYRING] $MIRROR $SUITE main
deb [signed-by=$KEYRING] $MIRROR $SUITE-updates main
deb [signed-by=$KEYRING] $SECURITY_MIRROR $SUITE-security main
EOF
  # proot's fake root cannot switch to the _apt user for downloads.
  echo 'APT::Sandbox::User "root";' >"$new/etc/apt/apt.conf.d/99check-arm64-sandbox"
  # No service starts in a build root (and there is no init to start it).
  printf '#!/bin/sh\n# check_arm64.sh: no services start in this root\nexit 101\n' \
    >"$new/usr/sbin/policy-rc.d"
  chmod 0755 "$new/usr/sbin/policy-rc.d"
  sync_network "$new"
  root_cmd "$new" "$PI_CPU"
  # systemd comes in with GStreamer's dependencies (dbus-user-session, libpam-systemd); its
  # postinst runs systemd-tmpfiles, which aborts proot itself (path.c compare_paths2
  # assertion) and with it dpkg. A diverted stub stands in; no tmpfiles are needed here.
  # The package ships /bin/systemd-tmpfiles (/bin is a link to /usr/bin): divert that name.
  "${ROOT_CMD[@]}" sh -c 'dpkg-divert --local --rename --add /bin/systemd-tmpfiles &&
    printf "#!/bin/sh\n# check_arm64.sh: the real one aborts proot; see systemd-tmpfiles.distrib\nexit 0\n" \
      >/bin/systemd-tmpfiles && chmod 0755 /bin/systemd-tmpfiles'
  "${ROOT_CMD[@]}" apt-get update
  "${ROOT_CMD[@]}" apt-get -y dist-upgrade
  "${ROOT_CMD[@]}" apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
  "${ROOT_CMD[@]}" apt-get clean
}

root_finish() {  # the marker last, then the new root replaces the old one
  printf '%s' "$RECIPE" >"$ROOT.new/$MARKER"
  rm -rf "$ROOT.old"
  if [[ -e $ROOT ]]; then mv "$ROOT" "$ROOT.old"; fi
  mv "$ROOT.new" "$ROOT"
  rm -rf "$ROOT.old"
  note "$(du -sh "$ROOT" | cut -f1) in $ROOT"
  fact "root" "$ROOT (built now)"
}

# The host's resolver and its locally added CA certificates (a TLS-inspecting proxy the host
# trusts must be trusted inside too for pip to reach PyPI). update-ca-certificates only runs
# when they changed.
sync_network() {  # sync_network ROOTDIR
  local dir=$1 changed=0 crt
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mkdir -p "$dir/usr/local/share/ca-certificates"
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [[ -f $crt ]] || continue
    if ! cmp -s "$crt" "$dir/usr/local/share/ca-certificates/${crt##*/}"; then
      cp "$crt" "$dir/usr/local/share/ca-certificates/" && changed=1
    fi
  done
  if [[ $changed -eq 1 && -x $dir/usr/sbin/update-ca-certificates ]]; then
    root_cmd "$dir" "$PI_CPU"
    "${ROOT_CMD[@]}" update-ca-certificates
  fi
  note "resolv.conf copied$([[ $changed -eq 1 ]] && printf '; host CA certificates added')"
}

# ---------------------------------------------------------------------------------------------
# The install, as a user would run it

install_in_root() {
  if [[ $keep_install -eq 0 ]]; then
    # A fresh install each time (pip's download cache in /root/.cache/pip stays).
    rm -rf "$ROOT/opt/emotion-edge" "$ROOT/etc/emotion-edge" \
      "$ROOT/etc/systemd/system/emotion-edge.service" "$ROOT/etc/systemd/system/emotion-edge.service.d"
  fi
  local cache="pip cache: none"
  [[ ! -d $ROOT/root/.cache/pip ]] || cache="pip cache: $(du -sh "$ROOT/root/.cache/pip" | cut -f1)"
  in_root "$PI_CPU" bash /src/tools/install.sh --no-enable | tee "$WORK/install.log"
  [[ -x $ROOT$INSTALLED/emotion-edge ]] || { echo "no $INSTALLED/emotion-edge"; return 1; }
  # install.sh builds from a copy without .git, .venv and .assets: none may reach the venv.
  local leaked
  leaked=$(find "$ROOT/opt/emotion-edge" \( -name .git -o -name .assets -o -name '*.mp4' \
           -o -name pyvenv.cfg -path '*/.venv/*' \) -print -quit)
  [[ -z $leaked ]] || { echo "checkout files in the install: $leaked"; return 1; }
  note "$(grep -m1 'installing on' "$WORK/install.log" | sed 's/^emotion-edge: //')"
  note "$cache"
  note "$(du -sh "$ROOT/opt/emotion-edge" | cut -f1) in /opt/emotion-edge"
  if grep -q "probe' failed" "$WORK/install.log"; then
    note "install.sh's probe failed"
    return 1
  fi
}

record_envs() {
  in_root "$PI_CPU" "$INSTALLED/python" /src/tools/arm64_results.py env --out /work/env-arm64.json
  "$HOST_PY" "$HELPER" env --out "$WORK/env-x86_64.json"
  in_root "$PI_CPU" "$INSTALLED/emotion-edge" probe >"$WORK/probe-arm64.txt" 2>&1
  local line
  while read -r line; do
    fact "probe arm64: ${line%%:*}" "${line#*: }"
  done < <(grep -E '^(onnxruntime|model |GStreamer)' "$WORK/probe-arm64.txt")
  fact "qemu" "$(qemu-aarch64-static --version | head -n1)"
  fact "proot" "$(dpkg-query -W -f='${Version}' proot 2>/dev/null || echo unknown)"
  # shellcheck disable=SC1091
  fact "host" "$(. /etc/os-release && echo "$PRETTY_NAME") $(uname -m), kernel $(uname -r)"
  local which='from edge_daemon.inference.detectors.blazeface import default_model_path
print(default_model_path().name)'
  fact "detector model arm64" "$(in_root "$PI_CPU" "$INSTALLED/python" -c "$which")"
  fact "detector model x86_64" "$("$HOST_PY" -c "$which")"
  fact "board (install.sh)" "$(grep -m1 -o 'board [a-z]*' "$WORK/install.log" || echo unknown)"
}

# ---------------------------------------------------------------------------------------------
# Broker, recorder and the daemon runs

start_broker() {
  local port
  port=$("$HOST_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$WORK/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
# No message of a run may be dropped for a slow subscriber.
max_queued_messages 0
EOF
  mosquitto -c "$WORK/mosquitto.conf" >"$WORK/logs/mosquitto.log" 2>&1 &
  echo $! >"$WORK/broker.pid"
  echo "$port" >"$WORK/broker.port"
  wait_for 20 port_open "$port" || { echo "mosquitto did not listen on $port"; return 1; }
  note "mosquitto $(mosquitto -h 2>/dev/null | head -n1 | grep -o '[0-9][0-9.]*' | head -n1) on 127.0.0.1:$port"
}

# The daemon's config: one camera, every frame in lockstep, MQTT only, a unique prefix.
# Results go QoS 1 (default 0) so that none is lost between the daemon and the recorder.
write_config() {  # write_config FILE LABEL VIDEO [SOURCE-YAML]
  local file=$1 label=$2 path=$3
  local source=${4:-"{type: file, path: \"$path\", realtime: false, every_frame: true}"}
  local camera=cam
  [[ -z ${4:-} ]] || camera=gst
  cat >"$file" <<EOF
# check_arm64.sh, run $RUN_ID, $label
cameras:
  $camera:
    source: $source
    interval_ms: 0
mqtt:
  host: 127.0.0.1
  port: $(<"$WORK/broker.port")
  client_id: check-arm64-$RUN_ID-$label
  topic_prefix: check-arm64/$RUN_ID/$label
  homeassistant: {enabled: false}
  topics: {results: {qos: 1}}
metrics: {enabled: false}
websocket: {enabled: false}
snapshots: {enabled: false}
EOF
}

# One daemon run: recorder subscribed first, the daemon watched for its peak memory until
# it exits by itself (the file ends) or, given STOP_WHEN, until `STOP_WHEN LABEL` succeeds
# (then it is stopped as systemd would, SIGTERM); then the recorder ends on the daemon's
# `stopped`.
run_daemon() {  # run_daemon LABEL WHERE(host|CPU) CONFIG(host path) [STOP_WHEN [SECONDS]]
  local label=$1 where=$2 config=$3 stop_when=${4:-} limit=${5:-$RUN_TIMEOUT} recorder cmd=()
  rm -f "$WORK/rec-$label.jsonl" "$WORK/rec-$label.ready"
  "$HOST_PY" "$HELPER" record --port "$(<"$WORK/broker.port")" --prefix "check-arm64/$RUN_ID/$label" \
    --out "$WORK/rec-$label.jsonl" --ready "$WORK/rec-$label.ready" --timeout "$((RUN_TIMEOUT + 120))" \
    >"$WORK/logs/record-$label.log" 2>&1 &
  recorder=$!
  echo "$recorder" >>"$WORK/recorders.pid"
  wait_for 30 test -s "$WORK/rec-$label.ready" || { echo "recorder not subscribed"; return 1; }
  if [[ $where == host ]]; then
    "$HOST_VENV/bin/emotion-edge" check-config --config "$config"
    cmd=("$HOST_VENV/bin/emotion-edge" run --config "$config")
  else
    in_root "$where" "$INSTALLED/emotion-edge" check-config --config "/work/${config##*/}"
    root_cmd "$ROOT" "$where"
    cmd=("${ROOT_CMD[@]}" "$INSTALLED/emotion-edge" run --config "/work/${config##*/}")
  fi
  local rc=0 watcher log=$WORK/logs/daemon-$label.log
  "$HOST_PY" "$HELPER" watch --out "$WORK/mem-$label.json" --match emotion-edge \
    --timeout "$RUN_TIMEOUT" -- "${cmd[@]}" >"$log" 2>&1 &
  watcher=$!
  if [[ -n $stop_when ]]; then
    wait_for "$limit" stop_check "$watcher" "$stop_when" "$label" || true
    kill -TERM "$watcher" 2>/dev/null || true  # watch passes it on to the daemon
  fi
  wait "$watcher" || rc=$?
  tail -n 3 "$WORK/logs/daemon-$label.log"
  if ! wait_for 60 gone "$recorder"; then
    kill "$recorder" 2>/dev/null || true
    echo "the recorder saw no 'stopped' from the daemon"
    rc=1
  fi
  wait "$recorder" || rc=1
  note "$(wc -l <"$WORK/rec-$label.jsonl") results; $(grep -m1 -o 'ended after [0-9]* frames' "$WORK/logs/daemon-$label.log" || echo 'no end seen')"
  note "$(tail -n1 "$WORK/logs/daemon-$label.log" | grep -o 'peak VmHWM.*MiB' || true)"
  # Under qemu every arm64 run so far ends in a SIGSEGV during Python's finalization, after
  # the daemon logged "stopped" and its results were out (proot still exits 0; x86-64 runs
  # exit cleanly, also with MALLOC_CHECK_=3): recorded as a warning, not a failure.
  if grep -q 'Segmentation fault' "$log"; then
    local after
    after=$(grep -B1 -m1 'Segmentation fault' "$log" | head -n1 | sed 's/^[0-9-]* [0-9:,]* *//' | cut -c1-80)
    note "SIGSEGV at exit, after: $after"
    fact "warning: $label" "SIGSEGV at exit (qemu: uncaught target signal 11), after: $after"
  fi
  return "$rc"
}

stop_check() {  # stop_check WATCHER STOP_WHEN LABEL: the run ended, or should now
  ! kill -0 "$1" 2>/dev/null || "$2" "$3"
}

frames_of() {  # frames_of FILE: how many frames OpenCV decodes
  "$HOST_PY" -c 'import cv2, sys
c = cv2.VideoCapture(sys.argv[1]); n = 0
while c.grab(): n += 1
print(n)' "$1"
}

prepare_video() {
  [[ -f $video ]] || { echo "no video $video (tools/fetch_assets.py fetches the registry's)"; return 1; }
  # The runs compared for the verdict read a lossless (FFV1) copy made here: both machines
  # then decode the same pixels. (OpenCV's YUV-to-BGR differs between x86-64 and aarch64
  # by a level or two in most pixels; the full mode measures that and its effect apart.)
  "$HOST_PY" "$HELPER" clip "$video" "$WORK/video.mkv" --frames "$frames"
  frames_of "$WORK/video.mkv" >"$WORK/video.mkv.frames"
  if [[ $cpu_max -eq 1 ]]; then
    "$HOST_PY" "$HELPER" clip "$video" "$WORK/video-max.mkv" --frames "$MAX_FRAMES"
    frames_of "$WORK/video-max.mkv" >"$WORK/video-max.mkv.frames"
  fi
  if [[ $mode == full ]]; then
    cp "$video" "$WORK/original.${video##*.}"
    echo "original.${video##*.}" >"$WORK/original.name"
    frames_of "$WORK/original.${video##*.}" >"$WORK/original.frames"
  fi
  note "$(<"$WORK/video.mkv.frames") frames of ${video##*/} as lossless FFV1"
  fact "video" "${video#"$REPO"/}: $(<"$WORK/video.mkv.frames") frames, as a lossless FFV1 copy"
}

run_host() {  # run_host LABEL VIDEO(file name in $WORK)
  write_config "$WORK/config-$1.yaml" "$1" "$WORK/$2"
  run_daemon "$1" host "$WORK/config-$1.yaml"
}

run_arm64() {  # run_arm64 LABEL CPU VIDEO(file name in $WORK)
  write_config "$WORK/config-$1.yaml" "$1" "/work/$3"
  run_daemon "$1" "$2" "$WORK/config-$1.yaml"
}

# How OpenCV decodes the registry video (H.264) on each machine: an MD5 per frame.
decode_check() {
  local original
  original=$(<"$WORK/original.name")
  in_root "$PI_CPU" "$INSTALLED/python" /src/tools/arm64_results.py decode "/work/$original" \
    --out /work/decode-arm64
  "$HOST_PY" "$HELPER" decode "$WORK/$original" --out "$WORK/decode-x86_64" \
    --against "$WORK/decode-arm64" --json "$WORK/decode.json" | tee "$WORK/decode.txt"
  note "$(tail -n1 "$WORK/decode.txt" | sed 's/^decode: //')"
  fact "OpenCV decode of ${video##*/}, x86_64 vs arm64" "$(tail -n1 "$WORK/decode.txt" | sed 's/^decode: //')"
}

compare() {  # compare A B FRAMES [compare's options]: runs A and B, frames 0..FRAMES-1
  local a=$1 b=$2 n=$3 rc=0
  shift 3
  set -- "$a" "$b" "$@"
  "$HOST_PY" "$HELPER" compare "$WORK/rec-$1.jsonl" "$WORK/rec-$2.jsonl" --label-a "$1" \
    --label-b "$2" --expect-frames "$n" --json "$WORK/compare-$1-vs-$2.json" "${@:3}" \
    >"$WORK/compare-$1-vs-$2.txt" || rc=$?
  cat "$WORK/compare-$1-vs-$2.txt"
  note "$(grep -m1 'faces compared' "$WORK/compare-$1-vs-$2.txt" | sed 's/^ *//')"
  note "$(grep -m1 'verdict' "$WORK/compare-$1-vs-$2.txt" | sed 's/^ *//; s/ (box.*//')"
  return "$rc"
}

# ---------------------------------------------------------------------------------------------
# onnxruntime's view: providers and the optimized graphs (op types counted on the host)

graph_ops() {
  in_root "$PI_CPU" "$INSTALLED/python" /src/tools/arm64_results.py graph-ops --out-dir /work/graph-arm64
  "$HOST_PY" "$HELPER" graph-ops --out-dir "$WORK/graph-x86_64"
  if [[ $cpu_max -eq 1 ]]; then
    in_root max "$INSTALLED/python" /src/tools/arm64_results.py graph-ops --out-dir /work/graph-arm64-max
  fi
}

# ---------------------------------------------------------------------------------------------
# GStreamer in the root

gstreamer_basics() {
  in_root "$PI_CPU" gst-launch-1.0 -q videotestsrc num-buffers=30 ! videoconvert ! fakesink
  note "gst-launch videotestsrc: ok"
  local version
  version=$(in_root "$PI_CPU" /usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0")
from gi.repository import Gst; Gst.init(None); print(Gst.version_string())')
  note "system python3 gi: $version"
  # install.sh links the system's gi into the venv: the daemon's Python must see it too.
  in_root "$PI_CPU" "$INSTALLED/python" -c 'import gi; gi.require_version("Gst", "1.0")
from gi.repository import Gst; Gst.init(None)'
  note "venv gi: ok"
  fact "gstreamer" "$version"
  # The registry's videos are H.264: decodebin needs avdec_h264 (gstreamer1.0-libav), which
  # the packages above do not bring; say so instead of failing.
  if in_root "$PI_CPU" gst-inspect-1.0 --exists avdec_h264; then
    fact "gstreamer H.264 decoder" "avdec_h264 present"
  else
    fact "gstreamer H.264 decoder" "none (no gstreamer1.0-libav): decodebin cannot play the .mp4 videos"
  fi
}

# >>> The gstreamer camera (PyGObject source): runs only when check-config accepts it.
# The clip is Motion JPEG in AVI, which base+good decode (avidemux, jpegdec). The appsink
# drops frames it is handed while the pipeline is busy, so this run is not compared frame
# by frame: it passes when the clip played to its end with results that have faces.
gst_enough() {  # gst_enough LABEL: enough results with a face
  [[ $(grep -c '"faces": \[{' "$WORK/rec-$1.jsonl" 2>/dev/null) -ge $GST_FACES ]]
}

gstreamer_camera() {
  "$HOST_PY" - "$video" "$WORK/gst-clip.avi" "$((frames > 0 ? frames : 48))" <<'EOF'
import sys
import cv2
source, out, frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
capture = cv2.VideoCapture(source)
writer = None
for _ in range(frames):
    ok, image = capture.read()
    if not ok:
        break
    if writer is None:
        writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"MJPG"), 24, image.shape[1::-1])
    writer.write(image)
writer.release()
EOF
  write_config "$WORK/config-gstreamer.yaml" gstreamer "" \
    '{type: gstreamer, pipeline: "filesrc location=/work/gst-clip.avi ! decodebin ! videoconvert ! appsink"}'
  local verdict
  if ! verdict=$(in_root "$PI_CPU" "$INSTALLED/emotion-edge" check-config --config /work/config-gstreamer.yaml 2>&1); then
    mark skip
    note "check-config refuses the gstreamer camera: $(printf '%s' "$verdict" | tail -n1)"
    return 0
  fi
  # A GStreamer camera does not finish at the end of its stream (the daemon reopens it, as a
  # camera that dropped out), and a file pipeline outruns the emulated daemon (the appsink
  # keeps the newest frame): the run is stopped once $GST_FACES results had a face.
  run_daemon gstreamer "$PI_CPU" "$WORK/config-gstreamer.yaml" gst_enough "$GST_LIMIT"
  note "$(grep -c 'end of stream' "$WORK/logs/daemon-gstreamer.log" || true) ends of stream (each reopened)"
  local faces
  faces=$("$HOST_PY" -c 'import json, sys
print(sum(1 for line in open(sys.argv[1]) if json.loads(line)["payload"]["faces"]))' "$WORK/rec-gstreamer.jsonl")
  note "$faces results with a face"
  [[ $faces -ge $GST_FACES ]]
}
# <<< the gstreamer camera

# ---------------------------------------------------------------------------------------------

cleanup() {
  local pid
  if [[ -f ${WORK:-}/broker.pid ]]; then kill "$(<"$WORK/broker.pid")" 2>/dev/null || true; fi
  if [[ -f ${WORK:-}/recorders.pid ]]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$WORK/recorders.pid"
  fi
  if [[ -n ${WORK:-} && $keep -eq 0 && ${final_rc:-1} -eq 0 ]]; then rm -rf "$WORK"
  elif [[ -n ${WORK:-} ]]; then say "state and logs kept in $WORK"
  fi
}

check_host() {
  local tool missing=()
  for tool in debootstrap proot qemu-aarch64-static mosquitto flock; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (apt-get install debootstrap proot qemu-user-static mosquitto)"
  [[ -x $HOST_PY ]] || die "no $HOST_PY: make the dev venv first (docs/development.md)"
  [[ $(id -u) -eq 0 ]] || die "run as root: debootstrap's first stage writes device nodes and owners"
  [[ $(uname -m) == x86_64 ]] || die "made for an x86-64 host (this is $(uname -m))"
}

main() {
  parse_args "$@"
  check_host
  if [[ -n $work ]]; then mkdir -p "$work"; WORK=$(cd "$work" && pwd); else WORK=$(mktemp -d /tmp/check-arm64.XXXXXX); fi
  mkdir -p "$WORK/logs"
  : >"$WORK/steps.tsv"
  : >"$WORK/facts.tsv"
  RUN_ID=$(date +%Y%m%d%H%M%S)-$$
  trap cleanup EXIT
  mkdir -p "$(dirname "$ROOT")"
  exec 9>"$ROOT.lock"
  flock -n 9 || die "another check uses $ROOT (lock $ROOT.lock)"
  fact "started" "$(date -Is)"
  fact "mode" "$mode"

  fatal=0
  if [[ $rebuild -eq 0 ]] && root_is_current; then
    must "root: cached" reuse_root
  else
    must "root: debootstrap first stage" root_first_stage
    must "root: debootstrap second stage" root_second_stage
    must "root: apt-get packages" root_packages
    must "root: finish" root_finish
  fi
  must "root: host resolver and CAs" sync_network "$ROOT"
  must "cpuinfo for QEMU_CPU=$PI_CPU" write_cpuinfo "$PI_CPU"
  [[ $cpu_max -eq 0 ]] || must "cpuinfo for QEMU_CPU=max" write_cpuinfo max
  must "install.sh --no-enable (arm64)" install_in_root
  try "versions and probe" record_envs
  must "video" prepare_video
  must "mosquitto" start_broker
  local n
  n=$(<"$WORK/video.mkv.frames")
  try "daemon x86_64 (host)" run_host x86_64 video.mkv
  try "daemon arm64 QEMU_CPU=$PI_CPU" run_arm64 arm64 "$PI_CPU" video.mkv
  try "compare x86_64 vs arm64" compare x86_64 arm64 "$n"
  if [[ $cpu_max -eq 1 ]]; then
    # The same first frames with qemu's default CPU (SVE, SME, dot product...): does
    # onnxruntime take other kernels there, and do the results change?
    try "daemon arm64 QEMU_CPU=max ($MAX_FRAMES frames)" run_arm64 arm64-cpu-max max video-max.mkv
    try "compare arm64 vs arm64-cpu-max" compare arm64 arm64-cpu-max \
      "$(<"$WORK/video-max.mkv.frames")" --only-frames "$(<"$WORK/video-max.mkv.frames")"
  fi
  if [[ $mode == full ]]; then
    # Informational: the registry's H.264 file as each machine's OpenCV decodes it, as a
    # user's camera file would be; not part of the verdict (the decodes differ slightly).
    local original
    original=$(<"$WORK/original.name")
    try "H.264 decode x86_64 vs arm64" decode_check
    try "daemon x86_64 on H.264 (info)" run_host x86_64-h264 "$original"
    try "daemon arm64 on H.264 (info)" run_arm64 arm64-h264 "$PI_CPU" "$original"
    try "compare on H.264 (info)" compare x86_64-h264 arm64-h264 \
      "$(<"$WORK/original.frames")" --info
  fi
  try "onnxruntime graphs" graph_ops
  try "gstreamer basics (arm64)" gstreamer_basics
  try "gstreamer camera (arm64)" gstreamer_camera
  fact "finished" "$(date -Is)"
  final_rc=0
  "$HOST_PY" "$HELPER" report --state "$WORK" --mode "$mode" ${report:+--out "$report"} || final_rc=1
  [[ $fatal -eq 0 ]] || final_rc=1
  return "$final_rc"
}

main "$@"; exit $?  # one line: bash reads a script as it runs; an edit during a run is safe
