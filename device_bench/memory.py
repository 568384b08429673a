"""Resident memory of this process, for per-artifact peak RSS.

Each artifact runs in its own worker process, so the process's peak is that artifact's peak:
interpreter, arena and eval set. On Linux the peak is read from `VmHWM` in /proc/self/status,
which belongs to the current address space and so starts afresh at exec. `ru_maxrss` does
not: Linux carries it across fork and exec, so a worker started by a 2 GB training process
would report 2 GB. `ru_maxrss` is used only where there is no procfs (macOS).
"""

from __future__ import annotations

import os
import resource
import sys


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process image so far, in bytes."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def current_rss_bytes() -> int | None:
    """Current resident set size from ``/proc/self/statm``; None where there is no procfs."""
    try:
        with open("/proc/self/statm") as statm:
            resident_pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")
