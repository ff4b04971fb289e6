"""Run the daemon's native stack inside the sandbox the unit file sets up (run as a script).

    python sandbox_probe.py --syscalls FILE   seccomp allow-list as SystemCallFilter= builds it
                            --mdwe            no writable+executable memory (kernel >= 6.3)
                            --image JPG --model ONNX... --out DIR

The sandbox is applied first, then numpy, OpenCV and onnxruntime are imported (as in the
service, where they load after exec) and exercised: decode a JPEG, run each model, write a
snapshot, open a TCP connection. Self-checks prove the sandbox is really on. Prints a JSON
summary on stdout.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import json
import mmap
import os
import socket
import sys
import threading

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
ALLOWED_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)


class ArgCmp(ctypes.Structure):
    """libseccomp's struct scmp_arg_cmp."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def apply_mdwe() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_MDWE) failed: {os.strerror(ctypes.get_errno())}")


def apply_seccomp(names: list[str]) -> None:
    """Allow names, fail everything else with EPERM (SystemCallErrorNumber=EPERM); socket()
    only for the families of RestrictAddressFamilies= (systemd says EAFNOSUPPORT, we EPERM)."""
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(0x00050000 | errno.EPERM)
    socket_nr = lib.seccomp_syscall_resolve_name(b"socket")
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0 or nr == socket_nr:  # not a syscall of this architecture; socket below
            continue
        if lib.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 0, None) != 0:
            sys.exit(f"seccomp rule for {name} refused")
    for family in ALLOWED_FAMILIES:
        cmp = ArgCmp(0, SCMP_CMP_EQ, family, 0)
        lib.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, socket_nr, 1, ctypes.byref(cmp))
    if lib.seccomp_load(ctx) != 0:
        sys.exit("seccomp_load failed")


def self_checks(mdwe: bool, syscalls: bool) -> dict[str, bool]:
    """Show that the sandbox is on: what it forbids really fails."""
    found = {}
    if mdwe:
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            found["wx_memory_refused"] = False
        except OSError:
            found["wx_memory_refused"] = True
    if syscalls:
        try:
            os.setgroups([])  # in @privileged: refused even to root
            found["setgroups_refused"] = False
        except PermissionError:
            found["setgroups_refused"] = True
        try:
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()
            found["netlink_refused"] = False
        except OSError:
            found["netlink_refused"] = True
    return found


def workload(image_path: str, models: list[str], out_dir: str) -> dict[str, object]:
    """What the daemon does natively: decode, infer, save a snapshot, talk TCP."""
    import cv2
    import numpy as np
    import onnxruntime as ort

    image = cv2.imread(image_path)
    if image is None:
        sys.exit(f"cannot decode {image_path}")
    outputs = {}
    for path in models:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed = {}
        for inp in session.get_inputs():
            # A free dimension: 1 for the batch, 128 for an image side (BlazeFace short).
            shape = [d if isinstance(d, int) else (1 if i == 0 else 128)
                     for i, d in enumerate(inp.shape)]
            dtype = np.uint8 if inp.type == "tensor(uint8)" else np.float32
            if len(shape) == 4 and 3 in shape[1:]:
                nhwc = shape[3] == 3
                h, w = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
                pixels = cv2.resize(image, (w, h))
                pixels = pixels if dtype == np.uint8 else pixels.astype(dtype) / 255.0
                feed[inp.name] = (pixels if nhwc else pixels.transpose(2, 0, 1))[None]
            else:
                feed[inp.name] = np.zeros(shape, dtype)
        result = session.run(None, feed)
        outputs[os.path.basename(path)] = [list(r.shape) for r in result]
    snapshot = os.path.join(out_dir, "snapshot.jpg")
    cv2.imwrite(snapshot, image)
    return {"outputs": outputs, "snapshot_bytes": os.path.getsize(snapshot), "tcp": tcp_echo()}


def tcp_echo() -> str:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(16))

    thread = threading.Thread(target=serve)
    thread.start()
    with socket.create_connection(server.getsockname(), timeout=5) as client:
        client.sendall(b"ping")
        reply = client.recv(16).decode()
    thread.join()
    server.close()
    return reply


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--syscalls")
    parser.add_argument("--mdwe", action="store_true")
    parser.add_argument("--image", required=True)
    parser.add_argument("--model", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.mdwe:
        apply_mdwe()
    if args.syscalls:
        with open(args.syscalls) as f:
            apply_seccomp(f.read().split())
    summary = self_checks(args.mdwe, bool(args.syscalls))
    summary.update(workload(args.image, args.model, args.out))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
