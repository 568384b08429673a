"""Peak RSS must belong to the worker, not to whatever large process started it."""

import subprocess
import sys

from device_bench import memory


def test_peak_is_at_least_current_and_plausible():
    peak = memory.peak_rss_bytes()
    assert peak >= (memory.current_rss_bytes() or 0) > 0


def test_child_of_a_large_parent_reports_its_own_peak():
    # setup: grow this process by ~400 MB, then start a small child the way run.bench does
    ballast = bytearray(400 * 2**20)
    ballast[:: 4096] = b"x" * len(ballast[:: 4096])
    # execute
    proc = subprocess.run(
        [sys.executable, "-c", "from device_bench import memory; print(memory.peak_rss_bytes())"],
        capture_output=True, text=True, check=True,
    )
    # assert: a bare Python with numpy is far below the parent's 400 MB
    assert int(proc.stdout) < 200 * 2**20
    del ballast
