"""Which process of a training cluster this is, in TensorFlow's own terms (`TF_CONFIG`).

`edgerec teacher --workers host:port,host:port --worker-index I` writes the `TF_CONFIG` that
`tf.distribute.MultiWorkerMirroredStrategy` reads; a `TF_CONFIG` already in the environment (set by
a Kubernetes operator, a Slurm script, ...) is used as it is. Worker 0 is the chief: it alone writes
the outputs and the checkpoints a restart resumes from (docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Iterator

from device_bench.errors import EdgerecError

VARIABLE = "TF_CONFIG"
BACKUP_STEPS = 200  # steps between the backups a restarted run resumes from (a lost worker loses at most these)


class ClusterError(EdgerecError, ValueError):
    """A cluster description that cannot start: the message names the flag or variable."""


class WorkerLost(EdgerecError, RuntimeError):
    """Another worker stopped answering mid-run; every worker must start again with --resume."""


@dataclass(frozen=True)
class Worker:
    """This process's place in the cluster: `count` workers, this one `index` (0: the chief)."""

    count: int = 1
    index: int = 0

    @property
    def chief(self) -> bool:
        return self.index == 0

    def describe(self) -> str:
        return "one process" if self.count == 1 else f"worker {self.index} of {self.count}" + (
            " (chief)" if self.chief else "")


def resolve(workers: str | None, index: int | None) -> Worker:
    """The worker from the flags (which then set TF_CONFIG), else from TF_CONFIG, else a single process."""
    if workers is None:
        if index is not None:
            raise ClusterError("--worker-index needs --workers (the cluster it indexes)")
        return _from_environment()
    hosts = [h.strip() for h in workers.split(",") if h.strip()]
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ClusterError(f"--workers: {host!r} is not host:port (e.g. 10.0.0.5:2222)")
    if index is None:
        raise ClusterError("--workers needs --worker-index (which of the workers this process is, from 0)")
    if not 0 <= index < len(hosts):
        raise ClusterError(f"--worker-index {index}: expected 0..{len(hosts) - 1} for {len(hosts)} workers")
    if VARIABLE in os.environ:
        raise ClusterError(f"--workers and {VARIABLE} both describe the cluster: give one of them")
    if len(hosts) > 1:
        os.environ[VARIABLE] = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})
    return Worker(len(hosts), index)


def _from_environment() -> Worker:
    text = os.environ.get(VARIABLE)
    if not text:
        return Worker()
    try:
        config = json.loads(text)
        hosts = config["cluster"]["worker"]
        task = config["task"]
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ClusterError(f"{VARIABLE}: expected {{\"cluster\": {{\"worker\": [\"host:port\", ...]}}, "
                           f"\"task\": {{\"type\": \"worker\", \"index\": I}}}} ({exc})") from None
    if set(config["cluster"]) - {"worker", "chief"} or kind not in ("worker", "chief"):
        raise ClusterError(f"{VARIABLE}: only worker (and chief) tasks are supported; a parameter-server cluster "
                           "is not (docs/distributed.md)")
    if "chief" in config["cluster"]:
        hosts = [*config["cluster"]["chief"], *hosts]
        index = 0 if kind == "chief" else index + len(config["cluster"]["chief"])
    if not 0 <= index < len(hosts):
        raise ClusterError(f"{VARIABLE}: task index {index} is outside the {len(hosts)} workers")
    return Worker(len(hosts), index)


def strategy(worker: Worker):
    """MultiWorkerMirroredStrategy across the cluster, or TensorFlow's default strategy for one process."""
    from edgerec._keras import tf

    if worker.count == 1:
        return tf.distribute.get_strategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def worker_loss(worker: Worker) -> Iterator[None]:
    """A collective op that failed because another worker died becomes one WorkerLost line, not
    TensorFlow's page of gRPC errors; on a single process nothing is caught."""
    from edgerec._keras import tf

    if worker.count == 1:
        yield
        return
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.CancelledError, tf.errors.DeadlineExceededError,
            tf.errors.InternalError, tf.errors.AbortedError) as exc:
        first = next((line for line in str(exc).splitlines() if "abort" in line.lower() or "unhealthy" in line),
                     type(exc).__name__)
        raise WorkerLost(f"{worker.describe()}: the cluster lost a worker ({first.strip()}); start every worker "
                         "again with --resume to continue from the last backup") from None
