"""Resident memory of this process, for per-artifact peak RSS.

Each artifact runs in its own worker process, so the process-wide peak
(``ru_maxrss``) is that artifact's peak: interpreter, arena and eval set.
"""

from __future__ import annotations

import os
import resource
import sys


def peak_rss_bytes() -> int:
    """Peak resident set size so far (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
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
