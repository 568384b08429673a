"""Reliability in one run: bad input, fuzzed artifacts, kill -9 or Ctrl-C + --resume, determinism.

    python bench/fault_suite.py [--recipe smoke] [--reference BUNDLE] [--fuzz-cases 1000]
                                [--kill-trials 5] [--interrupt-trials 10] [--determinism-runs 2]
                                [--seed 0] [--json FILE]

Prints one line per goal and exits 1 if any is missed:
- bad inputs tried / handled cleanly: every case of `bad_inputs.py` through the real `edgerec`
  command in a fresh process (exit 2 with one "Error:" line naming the thing, or an error row
  while the other artifacts complete; never a traceback);
- fuzz cases / parent crashes (goal 0): `fuzz_loader.fuzz` on the reference's student_int8;
- kill-resume trials / mismatching or partial artifacts (goal 0): `edgerec build` killed with
  SIGKILL (its whole process group) at a random instant, then `--resume`d. Partial: a file under
  its final name right after the kill that is not byte-identical to the reference's (.tflite) or
  does not parse (.json, .npz). Mismatching: after the resume, any .tflite whose sha256 differs
  from the reference's, or any Keras-side, on-device accuracy or eval-set value that differs;
- interrupt trials / unclean exits, mismatching or partial artifacts (goal 0): the same with
  SIGINT, as Ctrl-C sends it; unclean: not exit 130, a traceback, or a last line other than
  "interrupted; continue with: COMMAND", and COMMAND is what the trial then runs;
- determinism runs / metric differences (goal 0): uninterrupted builds of the same recipe and
  seed compared with the reference, metric by metric, plus the .tflite sha256s.

The reference is an uninterrupted build made here first (its duration bounds the kill instants),
or `--reference BUNDLE` built earlier with the same recipe, seed and package versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bad_inputs
import fuzz_loader
from device_bench import bundle as bundle_files

CLI = [sys.executable, "-c", "from edgerec.cli import main; main()"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
MIN_KILL_SECONDS = 2.0  # before this the build has not reached its first stage: nothing to test
INTERRUPTED = "interrupted; continue with: "  # the last line of an interrupted build (edgerec/cli/errors.py)


def edgerec(*argv: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=timeout, env=ENV)


def build(recipe: str, out: Path, *flags: str) -> float:
    """An uninterrupted build; returns its wall time in seconds."""
    start = time.perf_counter()
    proc = edgerec("build", "--recipe", recipe, "--out", str(out), *flags)
    if proc.returncode != 0:
        raise SystemExit(f"build of {out} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


# ---- bad inputs -------------------------------------------------------------------------------

def run_bad_inputs(reference: Path, scratch: Path) -> dict:
    cases = bad_inputs.cases(scratch, reference)
    failures = []
    for case in cases:
        proc = edgerec(*case.argv, timeout=600)
        ok, why = bad_inputs.check(case, proc.returncode, proc.stdout + proc.stderr,
                                   lambda p: json.loads(Path(p).read_text()))
        if not ok:
            failures.append(f"{case.area}: {case.name}: {why}")
    return {"tried": len(cases), "handled cleanly": len(cases) - len(failures), "failures": failures}


# ---- kill and resume ---------------------------------------------------------------------------

def _partial_files(out: Path, reference: Path) -> list[str]:
    """Files under their final names that are not whole (see the module docstring)."""
    partial = []
    for path in out.rglob("*"):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(out).parts):
            continue  # temp files and checkpoints are dot-names by design
        try:
            if bundle_files.is_artifact(path) and path.read_bytes() != (reference / path.name).read_bytes():
                partial.append(f"{path.name}: differs from the reference")
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".npz":
                with np.load(path, allow_pickle=False) as npz:
                    [npz[k] for k in npz.files]
        except (ValueError, OSError, EOFError) as exc:
            partial.append(f"{path.name}: {type(exc).__name__}")
    return partial


def _values(bundle: Path) -> dict[str, object]:
    """Everything a rebuild must reproduce exactly, flattened to comparable values."""
    manifest = bundle_files.read_manifest(bundle)
    values: dict[str, object] = {}
    for stage in manifest["stages"]:
        values.update({f"stage {stage['name']}: {k}": v for k, v in stage["metrics"].items()})
    for artifact in manifest["artifacts"]:
        values[f"{artifact['file']}: sha256"] = artifact["sha256"]
        values.update({f"{artifact['file']}: keras {k}": v for k, v in artifact["keras_metrics"].items()})
    for row in json.loads((bundle / bundle_files.BENCH).read_text())["rows"]:
        values.update({f"{row['artifact']}: device {k}": v for k, v in row["metrics"].items()})
    with np.load(bundle / bundle_files.EVAL_SET, allow_pickle=False) as npz:
        values.update({f"{bundle_files.EVAL_SET}: {k}": npz[k].tobytes() for k in npz.files})
    return values


def _differences(bundle: Path, reference: Path) -> list[str]:
    ours, theirs = _values(bundle), _values(reference)
    return [key for key in sorted(theirs.keys() | ours.keys()) if ours.get(key) != theirs.get(key)]


def run_kill_resume(recipe: str, reference: Path, scratch: Path, trials: int, window: float,
                    rng: np.random.Generator, sig: signal.Signals = signal.SIGKILL) -> dict:
    """SIGKILL: a power cut. SIGINT: Ctrl-C in a terminal, which reaches the whole process group;
    the build must then exit 130 with one line, no traceback, naming the command that resumes it,
    and that command is the one run."""
    mismatching, partial, unclean, interrupted, kill_points, notes = 0, 0, 0, 0, [], []
    for trial in range(trials):
        out = scratch / f"trial{trial}"
        kill_at = float(rng.uniform(MIN_KILL_SECONDS, window))
        proc = subprocess.Popen([*CLI, "build", "--recipe", recipe, "--out", str(out)], env=ENV, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=_default_sigint)
        try:
            _, stderr = proc.communicate(timeout=kill_at)
            finished = proc.returncode == 0
            notes.append(f"trial {trial}: finished before the kill at {kill_at:.1f}s")
        except subprocess.TimeoutExpired:
            finished = False
            os.killpg(proc.pid, sig)  # the build and its bench workers
            _, stderr = proc.communicate()
            if proc.returncode == 0:  # the signal came as the finished build was exiting
                finished = True
                notes.append(f"trial {trial}: finished as the signal came at {kill_at:.1f}s")
        kill_points.append(round(kill_at, 1))
        broken = _partial_files(out, reference)
        partial += len(broken)
        notes += [f"trial {trial}: partial {b}" for b in broken]
        resume = ["build", "--recipe", recipe, "--out", str(out), "--resume"]
        if sig == signal.SIGINT and not finished:
            last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
            clean = proc.returncode == 130 and "Traceback" not in stderr and last.startswith(INTERRUPTED)
            unclean += not clean
            if not clean:
                notes.append(f"trial {trial}: exit {proc.returncode}, stderr ends: {stderr[-500:]!r}")
            else:
                resume = shlex.split(last[len(INTERRUPTED):])[1:]  # the command it printed, without 'edgerec'
        interrupted += not finished
        if finished:
            resumed = subprocess.CompletedProcess([], 0, "", "")
        else:
            resumed = edgerec(*resume)
        if resumed.returncode != 0:
            mismatching += 1
            notes.append(f"trial {trial}: --resume failed: {resumed.stderr[-500:]}")
            continue
        differences = _differences(out, reference)
        mismatching += bool(differences)
        notes += [f"trial {trial}: differs: {d}" for d in differences[:5]]
    return {"trials": trials, "interrupted": interrupted, "mismatching": mismatching, "partial": partial,
            "unclean exits": unclean, "kill points (s)": kill_points, "notes": notes}


def _default_sigint() -> None:
    """In the build's process: Ctrl-C handled as in a terminal. A shell without job control starts a
    background command with SIGINT ignored and its children inherit that, so a suite started with
    `&` (or by a CI runner that does) would otherwise send signals the build never sees, and count
    the builds that finish anyway as clean trials."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="smoke")
    parser.add_argument("--reference", type=Path, default=None,
                        help="An uninterrupted bundle of --recipe built with these package versions.")
    parser.add_argument("--fuzz-cases", type=int, default=1000)
    parser.add_argument("--kill-trials", type=int, default=5)
    parser.add_argument("--interrupt-trials", type=int, default=10,
                        help="Builds interrupted with SIGINT (Ctrl-C) at a random instant, then resumed.")
    parser.add_argument("--kill-window", type=float, default=None,
                        help="Kill instants are drawn from [2 s, this]; default: the reference build's time.")
    parser.add_argument("--determinism-runs", type=int, default=2,
                        help="Builds compared for determinism, the reference included.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory(prefix="edgerec-faults.") as tmp:
        scratch = Path(tmp)
        reference, seconds = args.reference, None
        if reference is None:
            reference = scratch / "reference"
            seconds = build(args.recipe, reference)
        window = args.kill_window or seconds or 40.0

        bad = run_bad_inputs(reference, scratch / "bad")
        int8 = reference / bundle_files.artifact_file(bundle_files.STUDENT_INT8)
        fuzzed = fuzz_loader.fuzz(int8, args.fuzz_cases, seed=args.seed)
        killed = run_kill_resume(args.recipe, reference, scratch / "kill", args.kill_trials, window, rng)
        interrupted = run_kill_resume(args.recipe, reference, scratch / "interrupt", args.interrupt_trials, window,
                                      rng, signal.SIGINT)
        determinism = {"runs": max(args.determinism_runs, 1), "differences": 0, "notes": []}
        for run in range(1, args.determinism_runs):
            again = scratch / f"again{run}"
            build(args.recipe, again)
            differences = _differences(again, reference)
            determinism["differences"] += len(differences)
            determinism["notes"] += differences[:5]

    print(f"bad inputs        tried {bad['tried']}, handled cleanly {bad['handled cleanly']}")
    print(f"fuzz              cases {fuzzed['cases']}, parent crashes {fuzzed['parent crashes']} "
          f"(ok rows {fuzzed['ok rows']}, error rows {fuzzed['error rows']}, {fuzzed['seconds']} s)")
    print(f"kill -9 + resume  trials {killed['trials']} ({killed['interrupted']} killed before they finished), "
          f"mismatching {killed['mismatching']}, "
          f"partial artifacts {killed['partial']} (killed at {killed['kill points (s)']} s of a "
          f"{window:.0f} s window)")
    print(f"Ctrl-C + resume   trials {interrupted['trials']} ({interrupted['interrupted']} interrupted before they "
          f"finished), unclean exits {interrupted['unclean exits']}, "
          f"mismatching {interrupted['mismatching']}, partial artifacts {interrupted['partial']} "
          f"(interrupted at {interrupted['kill points (s)']} s)")
    print(f"determinism       runs {determinism['runs']}, metric differences {determinism['differences']}")
    for note in bad["failures"] + killed["notes"] + interrupted["notes"] + determinism["notes"]:
        print(f"  {note}")
    if args.json:
        args.json.write_text(json.dumps(
            {"bad_inputs": bad, "fuzz": fuzzed, "kill_resume": killed, "interrupt_resume": interrupted,
             "determinism": determinism}, indent=2) + "\n")
    missed = (bad["handled cleanly"] < bad["tried"] or fuzzed["parent crashes"] or killed["mismatching"]
              or killed["partial"] or determinism["differences"] or interrupted["mismatching"]
              or interrupted["partial"] or interrupted["unclean exits"])
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
