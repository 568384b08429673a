"""The bundle contract (device_bench.bundle): names, sha256, manifest write/read/validate.

No model is needed: the artifacts here are a few known bytes, and the file names are spelled
out literally because they are the contract other tools (apps, CI, a Pi) rely on.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from device_bench import bundle
from tests.device.test_without_tensorflow import DEVICE_BLOCKED
from tests.utils import blocked_import_env

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 example "abc"


def _manifest(folder: Path, search: dict | None = None) -> dict:
    """A complete manifest with one artifact whose bytes are b"abc"."""
    (folder / "student_int8.tflite").write_bytes(b"abc")
    tensors = {
        "inputs": [{"name": "user_id", "dtype": "int32", "shape": [-1]}],
        "outputs": [{"name": "logit", "dtype": "float32", "shape": [-1, 1]}],
    }
    entry = bundle.artifact_entry(folder / "student_int8.tflite", "student_int8", "int8", tensors,
                                  {"stage": "qat"}, {"auc": 0.8}, {"rows": 3})
    return bundle.manifest(
        [entry],
        bundle.eval_entry("leave-last-out", 3, ("auc", "ndcg@10")),
        bundle.schema_entry("tiny", [{"name": "user_id"}], {"user_id": bundle.vocab_file("user_id")}, 0, "click"),
        stages=[{"name": "qat"}], student_choice={"metric": "auc", "on": "validation", "candidates": []},
        baselines={"metric": "auc", "teacher_beats": True},
        recipe={"name": "tiny"}, seed=7, versions={"python": "3.11"}, search=search,
    )


def test_file_names_are_the_documented_ones():
    # assert
    assert (bundle.MANIFEST, bundle.EVAL_SET, bundle.BENCH, bundle.REPORT) == (
        "manifest.json", "eval.npz", "bench.json", "report.md")
    assert (bundle.ABLATION_JSON, bundle.ABLATION_MD) == ("ablation.json", "ablation.md")
    assert (bundle.SEARCH_JSON, bundle.SEARCH_MD, bundle.SEARCH_PNG) == ("search.json", "search.md", "search.png")
    assert bundle.PLOTS == "plots.json"
    assert [bundle.artifact_file(n) for n in (bundle.TEACHER, bundle.STUDENT, bundle.STUDENT_INT8,
                                              bundle.STUDENT_SCRATCH)] == [
        "teacher.tflite", "student.tflite", "student_int8.tflite", "student_scratch.tflite"]
    assert bundle.artifact_name("student_int8.tflite") == "student_int8"
    assert bundle.is_artifact(Path("x/student.tflite")) and not bundle.is_artifact("eval.npz")
    assert bundle.vocab_file("user_id") == "vocab/user_id.txt"


def test_sha256_of_a_known_byte_string(tmp_path):
    # setup
    (tmp_path / "abc").write_bytes(b"abc")

    # execute / assert
    assert bundle.sha256(tmp_path / "abc") == ABC_SHA256


def test_artifact_entry_takes_file_facts_from_the_file(tmp_path):
    # execute
    entry = _manifest(tmp_path)["artifacts"][0]

    # assert: keys in schema order, facts from the bytes on disk
    assert tuple(entry) == bundle.ARTIFACT_KEYS
    assert (entry["file"], entry["sha256"], entry["bytes"]) == ("student_int8.tflite", ABC_SHA256, 3)
    assert entry["output_kind"] == "logit"


def test_write_then_read_round_trips(tmp_path):
    # setup
    manifest = _manifest(tmp_path, search={"target": "auc>=0.9"})

    # execute
    path = bundle.write_manifest(tmp_path, manifest)

    # assert: the file is indented JSON ending in a newline, keys in schema order, nothing left behind
    assert path == tmp_path / "manifest.json"
    assert path.read_text() == json.dumps(manifest, indent=2) + "\n"
    assert bundle.read_manifest(tmp_path) == manifest
    assert tuple(manifest) == (*bundle.MANIFEST_KEYS, "search")
    assert manifest["eval"] == {"file": "eval.npz", "protocol": "leave-last-out", "held_out": 3,
                                "metrics": ["auc", "ndcg@10"]}
    assert manifest["schema"]["oov"] == "map any raw value missing from a vocabulary file to index 0"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "student_int8.tflite"]


def test_a_manifest_without_search_has_no_search_key(tmp_path):
    assert "search" not in _manifest(tmp_path)


@pytest.mark.parametrize("break_it, message", [
    (lambda m: m.pop("versions"), "lacks 'versions'"),
    (lambda m: m.update(format=2), "format 2 is not 1"),
    (lambda m: m.update(artifacts=[]), "artifacts is not a non-empty list"),
    (lambda m: m["artifacts"][0].pop("sha256"), r"artifacts\[0\] lacks 'sha256'"),
    (lambda m: m["artifacts"][0].update(sha256="ABC"), r"artifacts\[0\].sha256 'ABC' is not 64 lowercase hex"),
    (lambda m: m["artifacts"][0].update(bytes=-1), r"artifacts\[0\].bytes -1 is not a byte count"),
    (lambda m: m["artifacts"][0].update(file="../x.tflite"), "'../x.tflite' is not a .tflite file name inside"),
    (lambda m: m["artifacts"][0].update(file="model.onnx"), "'model.onnx' is not a .tflite file name"),
    (lambda m: m["artifacts"][0].update(inputs=[{"name": "u"}]), r"artifacts\[0\].inputs is not a list of"),
    (lambda m: m["eval"].update(file="other.npz"), "eval.file 'other.npz' is not 'eval.npz'"),
    (lambda m: m["schema"].pop("oov_index"), "schema lacks 'oov_index'"),
    (lambda m: m["schema"].update(vocabularies={"u": "/etc/passwd"}), "schema.vocabularies is not a mapping"),
])
def test_validate_names_the_file_and_the_problem(tmp_path, break_it, message):
    # setup
    manifest = _manifest(tmp_path)
    break_it(manifest)

    # execute / assert: nothing is written when the manifest breaks the schema
    with pytest.raises(bundle.BundleError, match=f"{tmp_path / 'manifest.json'}: not a valid bundle manifest: .*{message}"):
        bundle.write_manifest(tmp_path, manifest)
    assert not (tmp_path / "manifest.json").exists()


def test_validate_lists_every_problem():
    with pytest.raises(bundle.BundleError, match="lacks 'format'; lacks 'artifacts'; .*lacks 'versions'$"):
        bundle.validate({}, "m.json")
    with pytest.raises(bundle.BundleError, match="m.json: not a bundle manifest: not a JSON object"):
        bundle.validate([], "m.json")


@pytest.mark.parametrize("text, message", [
    (None, "no such file \\(the bundle manifest\\)"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a bundle manifest with artifacts\\[\\*\\].file"),
    ('{"artifacts": [{"sha256": "0"}]}', "not a bundle manifest with artifacts\\[\\*\\].file"),
    ('{"artifacts": [{"file": "../up.tflite"}]}', "artifact file '../up.tflite' points outside the bundle folder"),
    ('{"artifacts": [{"file": "/etc/passwd"}]}', "artifact file '/etc/passwd' points outside the bundle folder"),
])
def test_read_refuses_what_is_not_a_bundle_naming_the_file(tmp_path, text, message):
    # setup
    if text is not None:
        (tmp_path / "manifest.json").write_text(text)

    # execute / assert
    with pytest.raises(bundle.BundleError, match=f"{tmp_path / 'manifest.json'}: {message}"):
        bundle.read_manifest(tmp_path)


def test_read_accepts_a_minimal_hand_written_manifest(tmp_path):
    # setup: only what a bench needs, as a manifest written by hand or by an older build
    (tmp_path / "manifest.json").write_text('{"artifacts": [{"file": "m.tflite"}]}')

    # execute / assert
    assert bundle.read_manifest(tmp_path) == {"artifacts": [{"file": "m.tflite"}]}


def test_bundle_module_imports_without_tensorflow_or_the_training_side(tmp_path):
    # setup
    env, log = blocked_import_env(tmp_path, DEVICE_BLOCKED)

    # execute
    proc = subprocess.run([sys.executable, "-c", "import device_bench.bundle"], cwd=Path(__file__).resolve().parents[2],
                          env=env, capture_output=True, text=True)

    # assert
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), log.read_text()
