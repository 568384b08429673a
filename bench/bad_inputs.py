"""The bad-input catalogue the fault suite replays through the real `edgerec` command.

Each case writes its bad input under a scratch folder and names the command line to run and
what handling it cleanly means:
- `Exit2(needles)`: exit code 2, and the output ends in the one line starting "Error: ", which
  holds every needle (the thing named and what was expected); no traceback. A build may log its
  progress before it meets the bad input (e.g. "[data] ..."), so earlier lines are allowed;
- `ErrorRow(artifact)`: `edgerec bench --json` exits 0 without a traceback, the named
  artifact's row is an error and every other row is ok.
The same cases are unit tests (see docs/bad_input.md); here they run as a user would hit them,
in a fresh process each, so a crash in start-up code would count too.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from device_bench import bundle as bundle_files

INT8 = bundle_files.artifact_file(bundle_files.STUDENT_INT8)
STUDENT = bundle_files.artifact_file(bundle_files.STUDENT)


@dataclass(frozen=True)
class Exit2:
    needles: tuple[str, ...]


@dataclass(frozen=True)
class ErrorRow:
    artifact: str


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    argv: list[str]
    expect: Exit2 | ErrorRow


def _file(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def _recipe(tmp: Path, name: str, text: str) -> list[str]:
    path = _file(tmp / f"{name.replace(' ', '_')}.yaml", text)
    return ["build", "--recipe", str(path), "--out", str(tmp / "never")]


def _prepare_csv(tmp: Path, name: str, text: str | bytes, *flags: str) -> list[str]:
    path = _file(tmp / name.replace(" ", "_") / "log.csv", text)
    return ["data", "prepare", "--source", "csv", "--path", str(path), "--out", str(tmp / "never"), *flags]


def _bundle_copy(tmp: Path, bundle: Path, name: str) -> Path:
    copy = tmp / name.replace(" ", "_")
    shutil.copytree(bundle, copy)
    return copy


def _bench(folder_or_files: list[Path], tmp: Path, name: str) -> list[str]:
    out = tmp / f"{name.replace(' ', '_')}.json"
    return ["bench", *map(str, folder_or_files), "--runs", "5", "--warmup", "1", "--min-seconds", "0",
            "--json", str(out)]


def cases(tmp: Path, bundle: Path) -> list[Case]:
    """Every catalogued bad input, written under `tmp`; model-file cases mutate copies of `bundle`."""
    model = (bundle / INT8).read_bytes()
    flipped = bytearray(model)
    flipped[4] ^= 0x01
    header = "user_id,item_id,timestamp"
    out: list[Case] = []

    def add(area: str, name: str, argv: list[str], expect: Exit2 | ErrorRow) -> None:
        out.append(Case(area, name, argv, expect))

    # recipes
    add("recipe", "unknown key", _recipe(tmp, "unknown key", "distill: {temprature: 2.0}\n"),
        Exit2(("unknown key 'temprature'", "Did you mean 'temperature'?")))
    add("recipe", "wrong type", _recipe(tmp, "wrong type", "teacher_training: {max_epochs: three}\n"),
        Exit2(("teacher_training.max_epochs", "expected int", "'three'")))
    add("recipe", "temperature <= 0", _recipe(tmp, "temperature", "distill: {temperature: 0}\n"),
        Exit2(("temperature", "> 0")))
    add("recipe", "sparsity out of [0, 1)", _recipe(tmp, "sparsity", "compress:\n  - {name: prune, params: {target_sparsity: 1.5}}\n"),
        Exit2(("target_sparsity must be", "1.5")))
    add("recipe", "rank <= 0", _recipe(tmp, "rank", "compress:\n  - {name: low_rank, params: {rank: 0}}\n"),
        Exit2(("rank must be",)))
    add("recipe", "unknown step", _recipe(tmp, "step", "compress:\n  - {name: prun}\n"),
        Exit2(("unknown compression step 'prun'", "Did you mean 'prune'?")))
    add("recipe", "not YAML", _recipe(tmp, "not yaml", "teacher: [unclosed\n"), Exit2(("not valid YAML",)))
    add("recipe", "unknown built-in", ["build", "--recipe", "smok", "--out", str(tmp / "never")],
        Exit2(("unknown recipe 'smok'", "Did you mean 'smoke'?")))
    add("recipe", "unknown base", _recipe(tmp, "unknown base", "extends: smok\n"),
        Exit2(("unknown recipe 'smok'", "Did you mean 'smoke'?")))
    add("recipe", "--set unknown key", ["build", "--recipe", "smoke", "--set", "teacher.embeding_dim=8",
                                        "--out", str(tmp / "never")],
        Exit2(("unknown key 'embeding_dim'", "Did you mean 'embedding_dim'?")))

    # data
    add("data", "missing file", ["data", "prepare", "--source", "csv", "--path", str(tmp / "absent.csv"),
                                 "--out", str(tmp / "never")], Exit2(("absent.csv", "no such file")))
    add("data", "missing column", _prepare_csv(tmp, "missing column", "user_id,item,timestamp\n1,2,3\n"),
        Exit2(("missing column(s) item_id", "the file has: user_id, item, timestamp")))
    add("data", "non-integer id", _prepare_csv(tmp, "non-integer id", f"{header}\n1,2,3\n,3,4\n"),
        Exit2(("row 3", "'user_id' is empty")))
    add("data", "NaN label", _prepare_csv(tmp, "nan label", f"{header},rating\n1,2,3,4\n1,3,4,nan\n",
                                          "--label-col", "rating", "--min-rating", "4"),
        Exit2(("row 3", "'rating' must be a number")))
    add("data", "unknown separator", _prepare_csv(tmp, "separator", "user_id item_id timestamp\n1 2 3\n"),
        Exit2(("cannot tell the separator", "pass --sep")))
    add("data", "not UTF-8", _prepare_csv(tmp, "encoding", f"{header}\n\xe9t\xe9,2,3\n".encode("latin-1")),
        Exit2(("cannot be read as text", "utf-8")))
    add("data", "empty after filtering", _prepare_csv(tmp, "filtered", f"{header},rating\n1,2,3,1\n",
                                                      "--label-col", "rating", "--min-rating", "4"),
        Exit2(("no rows with rating >= 4.0",)))
    add("data", "empty after the k-core", _prepare_csv(tmp, "k-core", f"{header}\n1,10,1\n2,11,2\n"),
        Exit2(("no interaction is left after k-core filtering (users >= 2", "--min-user-interactions")))
    add("data", "no timestamp column", _prepare_csv(tmp, "no time", "user_id,item_id,weight\n1,10,3\n"),
        Exit2(("missing column(s) timestamp", "--no-time")))
    add("data", "--min-weight without --weight-col", _prepare_csv(tmp, "min weight", f"{header}\n1,10,1\n",
                                                                    "--min-weight", "2"),
        Exit2(("--min-weight needs --weight-col",)))
    add("data", "--columns of the wrong length", _prepare_csv(tmp, "columns", "1\t10\t3\n", "--columns", "u,i"),
        Exit2(("line 1 has 3 fields", "--columns names 2")))
    criteo_file = _file(tmp / "criteo_sep" / "day.tsv", "x")
    add("data", "--sep for criteo", ["data", "prepare", "--source", "criteo", "--path", str(criteo_file),
                                     "--sep", ",", "--out", str(tmp / "never")],
        Exit2(("--sep applies to --source csv, not criteo",)))
    add("recipe", "a model larger than the memory",
        _recipe(tmp, "huge", "extends: smoke\nteacher: {embedding_dim: 100000000, hidden: [8]}\n"),
        Exit2(("the build needs at least", "the largest table is teacher embedding_", "lower teacher.embedding_dim")))

    # command line
    add("CLI", "missing bench path", ["bench", str(tmp / "absent")], Exit2(("absent", "no such file or folder")))
    not_a_folder = _file(tmp / "plain_file", "x")
    add("CLI", "--out under a file", ["build", "--recipe", "smoke", "--out", str(not_a_folder / "b")],
        Exit2(("exists and is not a folder",)))
    existing = _file(tmp / "existing" / bundle_files.MANIFEST, "{}").parent
    add("CLI", "--out holds a bundle", ["build", "--recipe", "smoke", "--out", str(existing)],
        Exit2(("already holds a bundle", "--force")))
    add("CLI", "--resume of a complete bundle", ["build", "--recipe", "smoke", "--out", str(existing), "--resume"],
        Exit2(("complete bundle, nothing to resume",)))
    add("CLI", "--resume with --force", ["build", "--recipe", "smoke", "--out", str(tmp / "x"), "--resume", "--force"],
        Exit2(("--resume and --force",)))
    interrupted = _file(tmp / "interrupted" / ".build" / "state.json",
                        json.dumps({"fingerprint": {}, "stages": {}})).parent.parent
    add("CLI", "--resume with another recipe", ["build", "--recipe", "smoke", "--out", str(interrupted), "--resume"],
        Exit2(("started with a different recipe",)))

    # model files and bundles
    for name, data in (("zero bytes", b""), ("truncated", model[: len(model) // 2]), ("bit-flipped", bytes(flipped)),
                       ("not a flatbuffer", b"not a model\n" * 10)):
        path = _file(tmp / name.replace(" ", "_") / INT8, data)
        add("model file", name, _bench([path, bundle / STUDENT], tmp, name), ErrorRow(INT8))
    tampered = _bundle_copy(tmp, bundle, "sha256 mismatch")
    with open(tampered / INT8, "ab") as fh:
        fh.write(b"\0")
    add("model file", "sha256 differs from the manifest", _bench([tampered], tmp, "sha256 mismatch"), ErrorRow(INT8))
    wrong_inputs = _bundle_copy(tmp, bundle, "wrong inputs")
    with np.load(wrong_inputs / bundle_files.EVAL_SET, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if not k.endswith("/item_id")}
    np.savez(wrong_inputs / bundle_files.EVAL_SET, **arrays)
    add("model file", "eval set without a model input",
        _bench([wrong_inputs / INT8, bundle / STUDENT], tmp, "wrong inputs"), ErrorRow(INT8))
    escaping = _bundle_copy(tmp, bundle, "escaping manifest")
    manifest = bundle_files.read_manifest(escaping)
    manifest["artifacts"][0]["file"] = "../outside.tflite"
    (escaping / bundle_files.MANIFEST).write_text(json.dumps(manifest))
    add("bundle", "manifest path outside the bundle", _bench([escaping], tmp, "escaping"), Exit2(("outside",)))
    add("model file", "inspect of a non-flatbuffer", ["inspect", str(tmp / "not_a_flatbuffer" / INT8)],
        Exit2(("not a TFLite flatbuffer",)))
    return out


CheckResult = tuple[bool, str]


def check(case: Case, returncode: int, output: str, read_json: Callable[[str], dict]) -> CheckResult:
    """Whether `case` was handled cleanly, and if not, why."""
    if "Traceback" in output:
        return False, "traceback in the output"
    if isinstance(case.expect, Exit2):
        lines = [line for line in output.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error: ")]
        if returncode != 2:
            return False, f"exit code {returncode}, expected 2"
        if len(errors) != 1 or lines[-1] != errors[0]:
            return False, f"expected the output to end in one 'Error: ' line, got {lines[-5:]}"
        missing = [n for n in case.expect.needles if n not in errors[0]]
        return (not missing, f"message lacks {missing}: {errors[0]}" if missing else "")
    if returncode != 0:
        return False, f"bench exit code {returncode}"
    rows = read_json(case.argv[case.argv.index("--json") + 1])["rows"]
    bad = [r for r in rows if r["artifact"] == case.expect.artifact]
    others = [r for r in rows if r["artifact"] != case.expect.artifact]
    if len(bad) != 1 or bad[0]["status"] == "ok":
        return False, f"no error row for {case.expect.artifact}: {[(r['artifact'], r['status']) for r in rows]}"
    if not others or any(r["status"] != "ok" for r in others):
        return False, f"the other artifacts did not complete: {[(r['artifact'], r['status']) for r in others]}"
    return True, ""
