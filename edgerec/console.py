"""A calm console: TensorFlow's and TFLite's native log lines kept off stderr unless asked for.

TensorFlow 2.21 logs from C++ through absl, which `TF_CPP_MIN_LOG_LEVEL` does not reach: every
build printed "oneDNN custom operations are on", "failed call to cuInit", "NodeDef mentions
attribute use_unbounded_threadpool" (one per tf.data pipeline), and the converter's
"fully_quantize: 0, inference_type: 6, ..." to the user. They are written to file descriptor 2
by native code, so the only place to hold them back is that descriptor: `quiet_native_logs`
points it at a pipe and a thread forwards every line that is not native chatter to the real
stderr. Fatal native lines (F...) and everything Python prints go through untouched; so does a
progress bar's partial line ("\r..."), at once, so bars and log lines keep their order.
`stderr_is_terminal` answers for the real stderr, which the pipe hides from `isatty`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

NATIVE_CHATTER = re.compile(
    rb"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\] "  # absl: I0000 00:00:1796334687.167847   14081 port.cc:153]
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|fully_quantize: \d+, inference_type: "  # the MLIR quantizer, once per int8 conversion
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
)


_terminal: list[bool] = []  # while filtering: whether the real stderr is a terminal


def stderr_is_terminal() -> bool:
    """Whether what edgerec writes to stderr reaches a terminal (progress bars only draw there)."""
    if _terminal:
        return _terminal[-1]
    try:
        return os.isatty(2)
    except OSError:
        return False


def is_chatter(line: bytes) -> bool:
    """True for a native log line that `quiet_native_logs` holds back."""
    return NATIVE_CHATTER.match(line) is not None


@contextlib.contextmanager
def quiet_native_logs(enabled: bool = True) -> Iterator[None]:
    """Filters native chatter out of stderr (file descriptor 2) for the block."""
    if not enabled:
        yield
        return
    try:
        target = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    _terminal.append(os.isatty(target))
    read_end, write_end = os.pipe()
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward, args=(read_end, target), name="stderr-filter", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        _terminal.pop()
        sys.stderr.flush()
        os.dup2(target, 2)  # the pipe's last writer in this process goes; the thread sees EOF
        forwarder.join(timeout=5)  # a child process still holding the pipe keeps it open: do not wait on it
        if not forwarder.is_alive():  # else the thread still writes to `target`: leave it open
            os.close(target)


def _forward(read_end: int, target: int) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if not is_chatter(line))
            if b"\r" in pending:  # a progress bar redrawing its line: show it now
                kept, pending = kept + pending, b""
            _write(target, kept)
        if not is_chatter(pending):
            _write(target, pending)


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
