#!/usr/bin/env python3
"""Helpers of tools/check_arm64.sh: record, compare and report the arm64-vs-x86-64 runs.

Subcommands (each prints what it did; `python tools/arm64_results.py CMD --help`):

  record      subscribe to <prefix>/+/results and <prefix>/availability, write each results
              message to a JSONL file, end when the daemon says `stopped` (paho-mqtt)
  compare     two recordings frame by frame: frames, faces, boxes (px), top-1, probabilities
  decode      a video's frames as this venv's OpenCV decodes them (MD5s), against another's
  clip        the first N frames of a video, re-encoded losslessly (FFV1), so that a short run
              decodes the same pixels on both machines (OpenCV)
  watch       run a command, polling its process tree for the peak resident memory (VmHWM)
  proot-fix   run a command (proot) with faccessat2 and statx answering ENOSYS: Debian 12's
              proot does not translate their paths, so `[ -x F ]` or `ls F` in the root would
              look at the host's F
  graph-ops   optimize every bundled model with onnxruntime (the daemon's session options)
              and save the optimized graphs; runs inside either venv (onnxruntime only)
  env         versions of this machine: OS, Python, pip list, CPU features (HWCAP)
  cpu-features  the CPU features programs see, as a /proc/cpuinfo Features line
  report      the final text report and its JSON, from check_arm64.sh's state directory

Only the standard library is imported at the top: `graph-ops` and `env` run in the arm64
venv, `clip` needs cv2, `record` needs paho-mqtt, and counting op types needs onnx (the
x86-64 dev venv has it; the installed arm64 venv has not, so the host counts them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------
# Recordings and their comparison (pure functions: tests/tools/test_arm64_results.py)


def load_recording(path: str | Path) -> dict[str, dict[int, dict]]:
    """camera -> frame -> results payload, from a JSONL file `record` wrote.

    A QoS 1 message can arrive twice (redelivery); identical duplicates are dropped, a
    different payload for the same frame is an error (two runs mixed in one file).
    """
    cameras: dict[str, dict[int, dict]] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        payload = record["payload"]
        frames = cameras.setdefault(str(payload["camera"]), {})
        frame = int(payload["frame"])
        if frame in frames and _stable(frames[frame]) != _stable(payload):
            raise ValueError(f"{path}:{number}: frame {frame} recorded twice, differently")
        frames[frame] = payload
    return cameras


def _stable(payload: dict) -> dict:
    """A payload without what legitimately differs between two deliveries of it."""
    return {k: v for k, v in payload.items() if k not in ("timings_ms",)}


def _top1(probabilities: dict[str, float | None]) -> str | None:
    finite = {k: v for k, v in probabilities.items() if v is not None and math.isfinite(v)}
    return max(finite, key=lambda k: finite[k]) if finite else None


def _margin(probabilities: dict[str, float | None]) -> float:
    """The lead of the top label over the second (how close a top-1 flip was)."""
    values = sorted((v for v in probabilities.values() if v is not None), reverse=True)
    return values[0] - values[1] if len(values) > 1 else math.inf


def _box_px(a: dict, b: dict, width: int, height: int) -> float:
    return max(
        abs(a["box"][k] - b["box"][k]) * (width if k[0] == "x" else height)
        for k in ("x1", "y1", "x2", "y2")
    )


def _prob_diff(a: dict, b: dict) -> tuple[float, str | None]:
    """Largest |pa - pb| over the labels, and its label; inf if the labels or nulls differ."""
    pa, pb = a.get("probabilities") or {}, b.get("probabilities") or {}
    if set(pa) != set(pb):
        return math.inf, None
    worst, label = 0.0, None
    for key in pa:
        va, vb = pa[key], pb[key]
        both = va is not None and vb is not None
        diff = abs(va - vb) if both else (0.0 if va is vb else math.inf)
        if diff > worst or label is None:
            worst, label = diff, key
    return worst, label


def _pair_faces(faces_a: list[dict], faces_b: list[dict], width: int,
                height: int) -> list[tuple[dict, dict]]:
    """Pair faces of two equally long lists: in order, unless the detector's order swapped
    two near-equal faces, then by nearest box (greedy; a frame holds a handful)."""
    paired = list(zip(faces_a, faces_b, strict=True))
    if len(faces_a) < 2 or all(_box_px(a, b, width, height) <= 1.0 for a, b in paired):
        return paired
    left = list(faces_b)
    result = []
    for a in faces_a:
        best = min(left, key=lambda b: _box_px(a, b, width, height))
        left.remove(best)
        result.append((a, best))
    return result


def compare_recordings(a: dict[str, dict[int, dict]], b: dict[str, dict[int, dict]],
                       box_px: float = 1.0, prob: float = 1e-3, worst: int = 5,
                       expect_frames: int | None = None) -> dict:
    """Compare recording b against a; the summary, with `verdict` "match" or "mismatch".

    Per camera and frame: the same frames (and, with expect_frames, frames 0..N-1 in both:
    none lost on the way), the same frame size, the same number of faces;
    per face pair: box edges within box_px pixels, the same top-1 label of the
    probabilities and the same hysteresis `emotion`, probabilities within prob.
    """
    problems: list[str] = []
    cameras = sorted(set(a) | set(b))
    summary: dict[str, Any] = {
        "cameras": {}, "tolerance": {"box_px": box_px, "prob": prob},
        "expect_frames": expect_frames,
        "frames_compared": 0, "faces_compared": 0,
        "max_box_px": 0.0, "max_box_px_at": None, "max_prob": 0.0, "max_prob_at": None,
        "max_score": 0.0,
    }
    box_rows: list[dict] = []
    prob_rows: list[dict] = []
    for camera in cameras:
        fa, fb = a.get(camera, {}), b.get(camera, {})
        only_a, only_b = sorted(set(fa) - set(fb)), sorted(set(fb) - set(fa))
        common = sorted(set(fa) & set(fb))
        cam = {
            "frames_a": len(fa), "frames_b": len(fb), "frames_compared": len(common),
            "first_frame": common[0] if common else None,
            "last_frame": common[-1] if common else None,
            "only_a": _ranges(only_a), "only_b": _ranges(only_b),
            "gaps_a": _ranges(_gaps(fa)), "gaps_b": _ranges(_gaps(fb)),
            "face_count_mismatches": [], "top1_mismatches": [], "emotion_mismatches": [],
            "size_mismatches": [], "faces_per_frame": dict(sorted(Counter(
                len(fa[f]["faces"]) for f in common).items())),
        }
        if only_a or only_b:
            problems.append(f"{camera}: frames in only one run ({len(only_a)} only in a, "
                            f"{len(only_b)} only in b)")
        if not common:
            problems.append(f"{camera}: no frame in both runs")
        if expect_frames is not None:
            for label, frames in (("a", fa), ("b", fb)):
                if sorted(frames) != list(range(expect_frames)):
                    problems.append(f"{camera}: run {label} has {len(frames)} frames, not "
                                    f"0..{expect_frames - 1}")
        for frame in common:
            ra, rb = fa[frame], fb[frame]
            if (ra["width"], ra["height"]) != (rb["width"], rb["height"]):
                cam["size_mismatches"].append(frame)
                continue
            if len(ra["faces"]) != len(rb["faces"]):
                cam["face_count_mismatches"].append(
                    {"frame": frame, "a": len(ra["faces"]), "b": len(rb["faces"])})
                continue
            width, height = ra["width"], ra["height"]
            for i, (x, y) in enumerate(_pair_faces(ra["faces"], rb["faces"], width, height)):
                summary["faces_compared"] += 1
                where = {"camera": camera, "frame": frame, "face": i}
                px = _box_px(x, y, width, height)
                box_rows.append({**where, "box_px": px, "a": x["box"], "b": y["box"]})
                diff, label = _prob_diff(x, y)
                prob_rows.append({**where, "prob": diff, "label": label,
                                  "a": (x.get("probabilities") or {}).get(label),
                                  "b": (y.get("probabilities") or {}).get(label)})
                if "score" in x and "score" in y:
                    summary["max_score"] = max(summary["max_score"], abs(x["score"] - y["score"]))
                t1a, t1b = _top1(x.get("probabilities") or {}), _top1(y.get("probabilities") or {})
                if t1a != t1b:
                    cam["top1_mismatches"].append(
                        {**where, "a": t1a, "b": t1b,
                         "margin_a": _margin(x.get("probabilities") or {})})
                if x.get("emotion") != y.get("emotion"):
                    cam["emotion_mismatches"].append(
                        {**where, "a": x.get("emotion"), "b": y.get("emotion")})
        summary["frames_compared"] += len(common)
        for key, what in (("size_mismatches", "frame sizes"),
                          ("face_count_mismatches", "face counts"),
                          ("top1_mismatches", "top-1 labels"),
                          ("emotion_mismatches", "hysteresis emotions")):
            if cam[key]:
                problems.append(f"{camera}: {len(cam[key])} frames with different {what}")
        summary["cameras"][camera] = cam
    box_rows.sort(key=lambda r: r["box_px"], reverse=True)
    prob_rows.sort(key=lambda r: r["prob"], reverse=True)
    if box_rows:
        summary["max_box_px"] = box_rows[0]["box_px"]
        summary["max_box_px_at"] = {k: box_rows[0][k] for k in ("camera", "frame", "face")}
    if prob_rows:
        summary["max_prob"] = prob_rows[0]["prob"]
        summary["max_prob_at"] = {k: prob_rows[0][k] for k in ("camera", "frame", "face",
                                                                "label")}
    over_box = [r for r in box_rows if r["box_px"] > box_px]
    over_prob = [r for r in prob_rows if r["prob"] > prob]
    if over_box:
        problems.append(f"{len(over_box)} faces with a box edge more than {box_px} px apart "
                        f"(max {summary['max_box_px']:.3f} px)")
    if over_prob:
        problems.append(f"{len(over_prob)} faces with a probability more than {prob:g} apart "
                        f"(max {summary['max_prob']:.3g})")
    if summary["faces_compared"] == 0 and summary["frames_compared"]:
        problems.append("no face in any compared frame: nothing of the models was compared")
    summary["worst_box"] = box_rows[:worst]
    summary["worst_prob"] = prob_rows[:worst]
    summary["problems"] = problems
    summary["verdict"] = "mismatch" if problems else "match"
    return _finite(summary)


def _gaps(frames: dict[int, dict]) -> list[int]:
    """Frame numbers missing between a recording's first and last frame (lost messages)."""
    if not frames:
        return []
    return sorted(set(range(min(frames), max(frames) + 1)) - set(frames))


def _ranges(numbers: list[int]) -> list[list[int]]:
    """[1, 2, 3, 7] -> [[1, 3], [7, 7]]: short JSON for long lists of frame numbers."""
    out: list[list[int]] = []
    for n in numbers:
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _finite(value: Any) -> Any:
    """JSON has no inf: write it as the string "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def format_comparison(summary: dict, label_a: str, label_b: str) -> str:
    """A few lines: frames, worst differences, verdict."""
    lines = []
    for camera, cam in summary["cameras"].items():
        lines.append(f"  camera {camera}: {cam['frames_compared']} frames compared "
                     f"(frames {cam['first_frame']}..{cam['last_frame']}; {label_a} "
                     f"{cam['frames_a']}, {label_b} {cam['frames_b']}); faces per frame "
                     f"{cam['faces_per_frame']}")
    lines.append(f"  faces compared: {summary['faces_compared']}; max box diff "
                 f"{float(summary['max_box_px']):.4f} px, max probability diff "
                 f"{float(summary['max_prob']):.3g}, max score diff "
                 f"{float(summary['max_score']):.3g}")
    for row in summary["worst_box"][:3]:
        lines.append(f"    worst box: frame {row['frame']} face {row['face']}: "
                     f"{float(row['box_px']):.4f} px")
    for row in summary["worst_prob"][:3]:
        lines.append(f"    worst prob: frame {row['frame']} face {row['face']} {row['label']}: "
                     f"{row['a']} vs {row['b']} ({float(row['prob']):.3g})")
    for problem in summary["problems"]:
        lines.append(f"  PROBLEM: {problem}")
    verdict = summary["verdict"].upper()
    lines.append(f"  verdict {label_a} vs {label_b}: {verdict} (box <= "
                 f"{summary['tolerance']['box_px']} px, prob <= "
                 f"{summary['tolerance']['prob']:g}, same faces and top-1)")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# record


def cmd_record(args: argparse.Namespace) -> int:
    """Write every results message under the prefix to a JSONL file until `stopped`."""
    import paho.mqtt.client as mqtt

    out = open(args.out, "a", buffering=1)  # noqa: SIM115 - closed below, lines flushed
    done = threading.Event()
    seen_online = threading.Event()
    results_filter = f"{args.prefix}/+/results"
    availability = f"{args.prefix}/availability"
    counts = Counter()

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe([(results_filter, 1), (availability, 1)])

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        if args.ready:
            Path(args.ready).write_text(f"{os.getpid()}\n")

    def on_message(client, userdata, message):
        if message.topic == availability:
            state = message.payload.decode(errors="replace")
            counts[f"availability:{state}"] += 1
            if state == "online":
                seen_online.set()
            elif state == "stopped" and seen_online.is_set():
                done.set()
            return
        try:
            payload = json.loads(message.payload)
        except ValueError:
            counts["unparsable"] += 1
            return
        counts["results"] += 1
        out.write(json.dumps({"t": time.time(), "topic": message.topic,
                              "payload": payload}) + "\n")

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"arm64-check-{os.getpid()}")
    client.on_connect, client.on_subscribe, client.on_message = (
        on_connect, on_subscribe, on_message)
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    client.connect(args.host, args.port, keepalive=30)
    client.loop_start()
    finished = done.wait(args.timeout)
    client.disconnect()
    client.loop_stop()
    out.close()
    print(f"record: {counts['results']} results messages to {args.out}"
          f"{'' if finished else ' (timed out before stopped)'}; {dict(counts)}")
    return 0 if finished else 2


# ---------------------------------------------------------------------------------------------
# clip


def cmd_clip(args: argparse.Namespace) -> int:
    """The first N frames (0: all) of a video as a lossless FFV1 .mkv: both machines then
    decode the same pixels (their OpenCVs convert H.264's YUV to BGR slightly differently)."""
    import cv2

    source = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    fps = source.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    frames = 0
    while frames < (args.frames or math.inf):
        ok, image = source.read()
        if not ok:
            break
        if writer is None:
            height, width = image.shape[:2]
            writer = cv2.VideoWriter(args.out, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"),
                                     fps, (width, height))
            if not writer.isOpened():
                print("clip: OpenCV cannot write FFV1 here", file=sys.stderr)
                return 1
        writer.write(image)
        frames += 1
    if writer is not None:
        writer.release()
    print(f"clip: {frames} frames of {args.video} -> {args.out}")
    return 0 if frames else 1


# ---------------------------------------------------------------------------------------------
# watch: peak memory of the process tree


def _proc_status(pid: int) -> dict[str, str]:
    fields = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError), \
                open(f"/proc/{entry}/stat") as stat:
            ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cmd_watch(args: argparse.Namespace) -> int:
    """Run the command; poll its process tree every 0.1 s; write the last VmHWM of each."""
    started = time.monotonic()
    child = subprocess.Popen(args.argv, start_new_session=True)
    seen: dict[int, dict] = {}
    timed_out = False

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while child.poll() is None:
        for pid in _descendants(child.pid):
            status = _proc_status(pid)
            if "VmHWM" not in status:
                continue
            with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                seen[pid] = {"pid": pid, "name": status.get("Name"), "cmdline": cmdline,
                             "vm_hwm_kb": int(status["VmHWM"].split()[0]),
                             "vm_rss_kb": int(status["VmRSS"].split()[0]),
                             "threads": int(status.get("Threads", "0"))}
        if time.monotonic() - started > args.timeout and not timed_out:
            timed_out = True
            print(f"watch: {args.timeout} s passed: stopping the run", file=sys.stderr)
            forward(None, None)
        time.sleep(0.1)
    rc = 124 if timed_out else child.returncode
    matching = [p for p in seen.values() if args.match in p["cmdline"]]
    peak = max(matching, key=lambda p: p["vm_hwm_kb"], default=None)
    result = {"rc": rc, "wall_s": round(time.monotonic() - started, 2), "match": args.match,
              "process": peak, "processes": sorted(seen.values(), key=lambda p: p["pid"])}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if peak:
        print(f"watch: rc {rc} in {result['wall_s']} s; peak VmHWM {peak['vm_hwm_kb'] / 1024:.1f}"
              f" MiB ({peak['name']}: {peak['cmdline'][:120]})")
    else:
        print(f"watch: rc {rc} in {result['wall_s']} s; no process matched {args.match!r}")
    return rc


# ---------------------------------------------------------------------------------------------
# proot-fix: a seccomp filter for the two syscalls Debian 12's proot does not translate

# proot (5.1.0, Debian 12 and 13) predates two syscalls that take a path: faccessat2 (439,
# Linux 5.8; glibc calls it for `[ -x FILE ]` in bash and dash) and statx (332; coreutils'
# ls, stat, cp... call it). proot passes their path through untranslated, so in the root they
# look at the HOST's file: debootstrap's second stage finds no /debootstrap, invoke-rc.d runs
# the host's /usr/sbin/policy-rc.d, install.sh's `[[ -x $venv/bin/emotion-edge ]]` fails,
# `ls /root` lists the host's /root. Answered ENOSYS, as by an older kernel, both make glibc
# fall back to fstatat, which proot translates. (proot upstream added them after 5.1:
# proot-me/proot pull request 338 for faccessat2.)
UNTRANSLATED_SYSCALLS = {"faccessat2": 439, "statx": 332}  # x86-64 numbers
AUDIT_ARCH_X86_64 = 0xC000003E


def install_proot_fix() -> None:
    """Make the untranslated syscalls fail with ENOSYS here and in all this process starts."""
    import ctypes
    import errno

    class SockFilter(ctypes.Structure):
        _fields_ = (("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                    ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32))

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))

    ld_abs, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET
    numbers = sorted(UNTRANSLATED_SYSCALLS.values())
    n = len(numbers)
    rules = [SockFilter(ld_abs, 0, 0, 4),  # seccomp_data.arch
             SockFilter(jeq, 0, n + 1, AUDIT_ARCH_X86_64),  # another ABI: allow
             SockFilter(ld_abs, 0, 0, 0)]  # seccomp_data.nr
    # Each match jumps to the ENOSYS return after the list, a miss falls through to the next.
    rules += [SockFilter(jeq, n - i, 0, nr) for i, nr in enumerate(numbers)]
    rules += [SockFilter(ret, 0, 0, 0x7FFF0000),  # SECCOMP_RET_ALLOW
              SockFilter(ret, 0, 0, 0x00050000 | errno.ENOSYS)]  # SECCOMP_RET_ERRNO
    program = (SockFilter * len(rules))(*rules)
    fprog = SockFprog(len(program), program)
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0 or libc.prctl(
            pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")


def cmd_proot_fix(args: argparse.Namespace) -> int:
    """Run a command (proot) with faccessat2 and statx answering ENOSYS (see above)."""
    if platform.machine() != "x86_64":
        raise SystemExit("proot-fix: made for an x86-64 host")
    install_proot_fix()
    os.execvp(args.argv[0], args.argv)
    return 127  # not reached


# ---------------------------------------------------------------------------------------------
# graph-ops and env: run in the venv under test (onnxruntime and the standard library only)

# The daemon's session options (edge_daemon/inference/onnx_model.py) and the size its short
# BlazeFace session gets for a 640x360 camera at search_width 320 (the canvas, in 16s).
FREE_DIMENSIONS = {"height": 192, "width": 320}
HWCAP = ["fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp",
         "asimdhp", "cpuid", "asimdrdm", "jscvt", "fcma", "lrcpc", "dcpop", "sha3", "sm3",
         "sm4", "asimddp", "sha512", "sve", "asimdfhm", "dit", "uscat", "ilrcpc", "flagm",
         "ssbs", "sb", "paca", "pacg"]
HWCAP2 = ["dcpodp", "sve2", "sveaes", "svepmull", "svebitperm", "svesha3", "svesm4", "flagm2",
          "frint", "svei8mm", "svef32mm", "svef64mm", "svebf16", "i8mm", "bf16", "dgh", "rng",
          "bti", "mte", "ecv", "afp", "rpres", "mte3", "sme", "sme_i16i64", "sme_f64f64",
          "sme_i8i32", "sme_f16f32", "sme_b16f32", "sme_f32f32", "sme_fa64", "wfxt", "ebf16",
          "sve_ebf16"]


def cpu_features() -> dict:
    """The CPU features the kernel (or qemu-user, which emulates the auxiliary vector) reports
    to programs: on aarch64 the HWCAP bits onnxruntime's cpuinfo also reads."""
    info: dict[str, Any] = {"machine": platform.machine()}
    try:
        raw = Path("/proc/self/auxv").read_bytes()
    except OSError as exc:
        info["auxv_error"] = str(exc)
        return info
    words = [int.from_bytes(raw[i:i + 8], sys.byteorder) for i in range(0, len(raw) - 7, 8)]
    aux = dict(zip(words[0::2], words[1::2], strict=False))
    if platform.machine() == "aarch64":
        hw, hw2 = aux.get(16, 0), aux.get(26, 0)
        info["hwcap"] = [n for i, n in enumerate(HWCAP) if hw >> i & 1]
        info["hwcap2"] = [n for i, n in enumerate(HWCAP2) if hw2 >> i & 1]
    else:
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    info["flags"] = sorted(flags & {"sse4_2", "avx", "avx2", "fma", "avx512f",
                                                    "avx512_vnni", "avx_vnni", "f16c"})
                    break
    return info


def cmd_cpu_features(args: argparse.Namespace) -> int:
    """Print the CPU features of this (emulated) CPU, as /proc/cpuinfo's Features line."""
    info = cpu_features()
    print(" ".join(info.get("hwcap", []) + info.get("hwcap2", []) or info.get("flags", [])))
    return 0


def bundled_models_dir() -> Path:
    """edge_daemon/models of the installed package, found without importing the daemon."""
    import importlib.util

    spec = importlib.util.find_spec("edge_daemon")
    if spec is None or spec.origin is None:
        raise SystemExit("graph-ops: edge_daemon is not installed in this Python")
    return Path(spec.origin).parent / "models"


def cmd_graph_ops(args: argparse.Namespace) -> int:
    """Optimize each bundled model as the daemon's sessions do; save graphs and a JSON."""
    import onnxruntime as ort

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    models = sorted(bundled_models_dir().glob("*.onnx"))
    info: dict[str, Any] = {
        "machine": platform.machine(), "onnxruntime": ort.__version__,
        "build_info": getattr(ort, "get_build_info", lambda: None)(),
        "device": ort.get_device(), "available_providers": ort.get_available_providers(),
        "cpu": cpu_features(), "free_dimensions": FREE_DIMENSIONS, "models": {},
    }
    for model in models:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.optimized_model_filepath = str(out / f"{model.stem}.optimized.onnx")
        for name, size in FREE_DIMENSIONS.items():
            options.add_free_dimension_override_by_name(name, size)
        started = time.perf_counter()
        session = ort.InferenceSession(str(model), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        entry = {"file": model.name, "optimized": f"{model.stem}.optimized.onnx",
                 "session_providers": session.get_providers(),
                 "load_s": round(time.perf_counter() - started, 3)}
        try:
            entry["op_types"] = count_op_types(out / entry["optimized"])
        except ImportError:
            entry["op_types"] = None  # no onnx here: the host counts them (report)
        info["models"][model.name] = entry
    (out / "graph.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"graph-ops: {len(models)} models optimized on {info['machine']} into {out}; "
          f"providers {info['available_providers']}")
    return 0


def count_op_types(path: str | Path) -> dict[str, int]:
    """Node op types of an ONNX graph (and its subgraphs), as domain:op (ai.onnx plain)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts: Counter[str] = Counter()

    def walk(graph) -> None:
        for node in graph.node:
            domain = node.domain if node.domain not in ("", "ai.onnx") else ""
            counts[f"{domain}:{node.op_type}" if domain else node.op_type] += 1
            for attribute in node.attribute:
                if attribute.g is not None and attribute.g.node:
                    walk(attribute.g)
                for sub in attribute.graphs:
                    walk(sub)

    walk(model.graph)
    return dict(sorted(counts.items()))


def cmd_env(args: argparse.Namespace) -> int:
    """Versions of this machine and of this venv's packages, as JSON."""
    os_release = {}
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            os_release[key] = value.strip('"')
    pip = subprocess.run([sys.executable, "-m", "pip", "list", "--format=json",
                          "--disable-pip-version-check"], capture_output=True, text=True)
    packages = {p["name"].lower(): p["version"] for p in json.loads(pip.stdout or "[]")}
    info = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": platform.machine(), "os": os_release.get("PRETTY_NAME"),
        "debian_version": (Path("/etc/debian_version").read_text().strip()
                           if Path("/etc/debian_version").exists() else None),
        "python": platform.python_version(), "executable": sys.executable,
        "packages": packages, "cpu": cpu_features(),
    }
    Path(args.out).write_text(json.dumps(info, indent=1) + "\n")
    wanted = {k: packages.get(k) for k in ("onnxruntime", "numpy", "opencv-python-headless")}
    print(f"env: {info['os']} {info['machine']}, Python {info['python']}, {wanted}")
    return 0


# ---------------------------------------------------------------------------------------------
# report


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_tsv(path: Path) -> dict[str, str]:
    """KEY<TAB>VALUE lines (check_arm64.sh's facts), in order; a later KEY wins."""
    facts: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition("\t")
            facts[key] = value
    return facts


def _graph_summary(state: Path, name: str) -> dict | None:
    info = _read_json(state / name / "graph.json")
    if info is None:
        return None
    for entry in info["models"].values():
        if entry.get("op_types") is None:
            try:
                entry["op_types"] = count_op_types(state / name / entry["optimized"])
                entry["counted_on"] = "host (onnx)"
            except Exception as exc:  # a missing onnx or an unreadable graph: say which
                entry["op_types_error"] = f"{type(exc).__name__}: {exc}"
    return info


def _op_diff(a: dict[str, int] | None, b: dict[str, int] | None) -> dict:
    a, b = a or {}, b or {}
    return {op: [a.get(op, 0), b.get(op, 0)] for op in sorted(set(a) | set(b))
            if a.get(op, 0) != b.get(op, 0)}


def build_report(state: Path, mode: str) -> dict:
    """Everything check_arm64.sh left in its state directory, as one JSON object."""
    steps = []
    with contextlib.suppress(OSError):
        for line in (state / "steps.tsv").read_text().splitlines():
            name, seconds, status, note = [*line.split("\t"), "", "", ""][:4]
            steps.append({"step": name, "seconds": float(seconds or 0), "status": status,
                          "note": note})
    graphs = {"arm64": _graph_summary(state, "graph-arm64"),
              "x86_64": _graph_summary(state, "graph-x86_64"),
              "arm64_cpu_max": _graph_summary(state, "graph-arm64-max")}
    op_types = {}
    if graphs["arm64"] and graphs["x86_64"]:
        for model, entry in graphs["arm64"]["models"].items():
            other = graphs["x86_64"]["models"].get(model, {})
            op_types[model] = {"arm64": entry.get("op_types"), "x86_64": other.get("op_types"),
                               "differ_arm64_vs_x86_64": _op_diff(entry.get("op_types"),
                                                                  other.get("op_types"))}
            if graphs["arm64_cpu_max"]:
                maxed = graphs["arm64_cpu_max"]["models"].get(model, {})
                op_types[model]["differ_cortex_a72_vs_max"] = _op_diff(
                    entry.get("op_types"), maxed.get("op_types"))
    comparisons = {}
    for path in sorted(state.glob("compare-*.json")):
        comparisons[path.stem.removeprefix("compare-")] = _read_json(path)
    memory = {}
    for path in sorted(state.glob("mem-*.json")):
        data = _read_json(path) or {}
        peak = data.get("process") or {}
        memory[path.stem.removeprefix("mem-")] = {
            "vm_hwm_mib": round(peak["vm_hwm_kb"] / 1024, 1) if peak else None,
            "process": peak.get("name"), "wall_s": data.get("wall_s"), "rc": data.get("rc")}
    envs = {path.stem.removeprefix("env-"): _read_json(path) or {}
            for path in sorted(state.glob("env-*.json"))}
    wanted = ("onnxruntime", "numpy", "opencv-python-headless", "paho-mqtt", "emotion-edge")

    def versions(env: dict) -> dict:
        return {"os": env.get("os"), "debian_version": env.get("debian_version"),
                "python": env.get("python"), "machine": env.get("machine"),
                **{k: env.get("packages", {}).get(k) for k in wanted},
                "cpu": env.get("cpu")}

    failed = [s["step"] for s in steps if s["status"] == "fail"]
    mismatched = [k for k, v in comparisons.items()
                  if not v or (v.get("verdict") != "match" and not v.get("informational"))]
    report = {
        "mode": mode, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "facts": _read_tsv(state / "facts.tsv"),
        "versions": {name: versions(env) for name, env in envs.items()},
        "arm64_pip_list": envs.get("arm64", {}).get("packages"),
        "steps": steps, "total_s": round(sum(s["seconds"] for s in steps), 1),
        "comparisons": comparisons, "memory": memory,
        "providers": {k: (g or {}).get("available_providers") for k, g in graphs.items()},
        "onnxruntime_build": {k: (g or {}).get("build_info") for k, g in graphs.items()},
        "op_types": op_types,
        "failed_steps": failed, "mismatched_comparisons": mismatched,
    }
    report["verdict"] = "PASS" if not failed and not mismatched and comparisons else "FAIL"
    return report


def format_report(report: dict) -> str:
    """The short text report."""
    lines = [f"== emotion-edge arm64 check ({report['mode']}), {report['date']}"]
    for machine, v in report["versions"].items():
        lines.append(f"  {machine}: {v['os']} (debian {v['debian_version']}), Python "
                     f"{v['python']}, onnxruntime {v['onnxruntime']}, numpy {v['numpy']}, "
                     f"opencv {v['opencv-python-headless']}")
        cpu = v.get("cpu") or {}
        if cpu.get("hwcap") is not None:
            lines.append(f"    cpu features seen by programs: {' '.join(cpu['hwcap'])}"
                         f"{' | ' + ' '.join(cpu['hwcap2']) if cpu.get('hwcap2') else ''}")
    for key, value in report["facts"].items():
        lines.append(f"  {key}: {value}")
    lines.append("  steps:")
    for s in report["steps"]:
        note = f"  ({s['note']})" if s["note"] else ""
        lines.append(f"    {s['step']:<34} {s['seconds']:8.1f} s  {s['status']}{note}")
    lines.append(f"    {'total':<34} {report['total_s']:8.1f} s")
    for name, summary in report["comparisons"].items():
        info = " (informational, not part of the verdict)" if (summary or {}).get(
            "informational") else ""
        lines.append(f"  comparison {name}{info}:")
        if summary:
            a, _, b = name.partition("-vs-")
            lines.append(format_comparison(summary, a, b))
        else:
            lines.append("    no comparison written")
    for name, mem in report["memory"].items():
        lines.append(f"  peak resident memory (VmHWM) {name}: {mem['vm_hwm_mib']} MiB "
                     f"({mem['process']}, run {mem['wall_s']} s, rc {mem['rc']})")
    if any(k.startswith("arm64") for k in report["memory"]):
        lines.append("    (under qemu-user VmHWM is the emulator process: guest memory plus "
                     "qemu's own and its translated-code cache, so above a real Pi's)")
    for machine, providers in report["providers"].items():
        if providers:
            lines.append(f"  onnxruntime providers {machine}: {', '.join(providers)}")
    for model, ops in report["op_types"].items():
        diff = ops["differ_arm64_vs_x86_64"]
        n_arm = sum((ops["arm64"] or {}).values())
        n_x86 = sum((ops["x86_64"] or {}).values())
        text = ", ".join(f"{op} {a}/{b}" for op, (a, b) in diff.items()) or "same op types"
        lines.append(f"  optimized graph {model}: {n_arm} nodes arm64, {n_x86} x86-64; "
                     f"differ (arm64/x86-64): {text}")
        if ops.get("differ_cortex_a72_vs_max"):
            lines.append(f"    cortex-a72 vs max differ: {ops['differ_cortex_a72_vs_max']}")
    if report["failed_steps"]:
        lines.append(f"  failed steps: {', '.join(report['failed_steps'])}")
    lines.append(f"VERDICT: {report['verdict']}"
                 + (f" (mismatch: {', '.join(report['mismatched_comparisons'])})"
                    if report["mismatched_comparisons"] else ""))
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    """Print the report, write its JSON; exit 1 unless everything passed."""
    report = build_report(Path(args.state), args.mode)
    print(format_report(report))
    if args.out:
        Path(args.out).write_text(json.dumps(_finite(report), indent=1) + "\n")
        print(f"report JSON: {args.out}")
    return 0 if report["verdict"] == "PASS" else 1


def first_frames(recording: dict[str, dict[int, dict]], n: int) -> dict[str, dict[int, dict]]:
    """Only frames 0..n-1 (a shorter run compared with the start of a longer one: the
    pipeline's state at frame k depends on frames 0..k only)."""
    return {camera: {f: p for f, p in frames.items() if f < n}
            for camera, frames in recording.items()}


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two recordings; print the summary; exit 1 on a mismatch (0 with --info)."""
    a, b = load_recording(args.a), load_recording(args.b)
    if args.only_frames:
        a, b = first_frames(a, args.only_frames), first_frames(b, args.only_frames)
    summary = compare_recordings(a, b, box_px=args.box_px, prob=args.prob,
                                 expect_frames=args.expect_frames)
    summary["informational"] = args.info
    print(format_comparison(summary, args.label_a, args.label_b)
          + (" [informational: not part of the verdict]" if args.info else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if summary["verdict"] == "match" or args.info else 1


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a video with this venv's OpenCV (as the file source does): an MD5 per frame,
    and a few frames kept, so that two machines' decodes can be compared (--against)."""
    import hashlib

    import cv2
    import numpy as np

    capture = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG)
    hashes, kept = [], {}
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if len(hashes) % args.keep_every == 0:
            kept[f"f{len(hashes)}"] = image
        hashes.append(hashlib.md5(image.tobytes()).hexdigest())
    Path(args.out + ".json").write_text(json.dumps(hashes) + "\n")
    np.savez_compressed(args.out + ".npz", **kept)
    print(f"decode: {len(hashes)} frames of {args.video} (OpenCV {cv2.__version__})")
    if not args.against:
        return 0
    other = json.loads(Path(args.against + ".json").read_text())
    same = sum(x == y for x, y in zip(hashes, other, strict=False))
    mine, theirs = np.load(args.out + ".npz"), np.load(args.against + ".npz")
    diffs = [np.abs(mine[k].astype(np.int16) - theirs[k].astype(np.int16))
             for k in mine.files if k in theirs.files]
    result = {"frames": [len(hashes), len(other)], "identical_frames": same,
              "sampled_frames": len(diffs),
              "max_abs_diff": int(max((d.max() for d in diffs), default=0)),
              "values_differing": float(np.mean([(d > 0).mean() for d in diffs])) if diffs else 0}
    print(f"decode: {same} of {len(hashes)} frames identical; in {len(diffs)} sampled frames "
          f"max abs diff {result['max_abs_diff']}, "
          f"{result['values_differing']:.1%} of values differ")
    if args.json:
        Path(args.json).write_text(json.dumps(result) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="subcommand", required=True)

    p = sub.add_parser("record", help=cmd_record.__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", help="file written once subscribed")
    p.add_argument("--timeout", type=float, default=3600)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("compare", help=cmd_compare.__doc__)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--label-a", default="a")
    p.add_argument("--label-b", default="b")
    p.add_argument("--box-px", type=float, default=1.0)
    p.add_argument("--prob", type=float, default=1e-3)
    p.add_argument("--expect-frames", type=int, help="each run must have frames 0..N-1")
    p.add_argument("--only-frames", type=int, help="compare frames 0..N-1 only")
    p.add_argument("--info", action="store_true", help="informational: a mismatch exits 0")
    p.add_argument("--json")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("decode", help=cmd_decode.__doc__)
    p.add_argument("video")
    p.add_argument("--out", required=True, help="OUT.json (MD5s) and OUT.npz (kept frames)")
    p.add_argument("--keep-every", type=int, default=50)
    p.add_argument("--against", help="another decode's OUT, to compare with")
    p.add_argument("--json", help="the comparison, as JSON")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("clip", help=cmd_clip.__doc__)
    p.add_argument("video")
    p.add_argument("out")
    p.add_argument("--frames", type=int, required=True)
    p.set_defaults(func=cmd_clip)

    p = sub.add_parser("watch", help=cmd_watch.__doc__)
    p.add_argument("--out", required=True)
    p.add_argument("--match", default="emotion-edge")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("proot-fix", help=cmd_proot_fix.__doc__)
    p.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    p.set_defaults(func=cmd_proot_fix)

    p = sub.add_parser("graph-ops", help=cmd_graph_ops.__doc__)
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_graph_ops)

    p = sub.add_parser("cpu-features", help=cmd_cpu_features.__doc__)
    p.set_defaults(func=cmd_cpu_features)

    p = sub.add_parser("env", help=cmd_env.__doc__)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("report", help=cmd_report.__doc__)
    p.add_argument("--state", required=True)
    p.add_argument("--mode", default="full")
    p.add_argument("--out")
    p.set_defaults(func=cmd_report)

    args = parser.parse_args(argv)
    if args.subcommand in ("watch", "proot-fix") and args.argv[:1] == ["--"]:
        args.argv = args.argv[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
