"""Each Python thread's name as its OS thread name, for `top -H`, `ps -L` and py-spy.

CPython before 3.14 leaves every thread with the process's name, so a busy thread shows up
as one more "emotion-edge". pthread_setname_np names another thread by its pthread_t, which
is what threading gives as a thread's ident on Linux; the kernel keeps 15 bytes. The main
thread keeps the process's name (systemd and ps show that one). Elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading

OS_NAME_BYTES = 15


def _setter() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    setter = getattr(libc, "pthread_setname_np", None)
    if setter is not None:
        setter.argtypes = (ctypes.c_ulong, ctypes.c_char_p)
        setter.restype = ctypes.c_int
    return setter


_SET_NAME = _setter()
_named: set[tuple[int, str]] = set()  # (ident, name): idents are reused by later threads


def name_os_threads() -> int:
    """Name every running thread but the main one at the OS level; how many were new."""
    if _SET_NAME is None:
        return 0
    count = 0
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is main or thread.ident is None or (thread.ident, thread.name) in _named:
            continue
        name = thread.name.encode("utf-8", "replace")[:OS_NAME_BYTES]
        if _SET_NAME(thread.ident, name) == 0:
            _named.add((thread.ident, thread.name))
            count += 1
    return count
