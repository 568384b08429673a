"""A cluster of worker processes on this machine, on 127.0.0.1 ports: to try a multi-worker command
before a real cluster, and for the tests that compare 2 workers with 1.

    python -m edgerec.local_cluster --workers 2 -- edgerec teacher --data DIR --out OUT

starts the command once per worker with `--workers 127.0.0.1:P0,127.0.0.1:P1 --worker-index I`
appended (free ports picked here), prefixes each output line with its worker, and exits with the
first non-zero exit status (0 when every worker succeeded). An interrupt stops every worker.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from typing import Sequence

import click


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 now (the OS picks them; held until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def worker_commands(command: Sequence[str], count: int) -> list[list[str]]:
    """The command for each of `count` local workers."""
    hosts = ",".join(f"127.0.0.1:{port}" for port in free_ports(count))
    return [[*command, "--workers", hosts, "--worker-index", str(index)] for index in range(count)]


def start(command: Sequence[str], count: int, out=None) -> list[subprocess.Popen]:
    """Starts the workers; each one's output goes to `out` (default stdout) line by line, prefixed."""
    out = out or sys.stdout
    processes = []
    for index, argv in enumerate(worker_commands(command, count)):
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=_relay, args=(process, f"[worker {index}] ", out), daemon=True).start()
        processes.append(process)
    return processes


def wait(processes: list[subprocess.Popen]) -> int:
    """The first non-zero exit status among the workers, or 0; an interrupt terminates them all."""
    try:
        codes = [process.wait() for process in processes]
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        raise
    return next((code for code in codes if code), 0)


def _relay(process: subprocess.Popen, prefix: str, out) -> None:
    for line in process.stdout:
        out.write(prefix + line)
        out.flush()


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--workers", "count", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes to start.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def main(count: int, command: tuple[str, ...]) -> None:
    """Run COMMAND as COUNT workers on 127.0.0.1 (see the module docstring)."""
    sys.exit(wait(start(command, count)))


if __name__ == "__main__":
    main()
