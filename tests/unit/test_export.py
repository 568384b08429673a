"""`edgerec export` through the CLI on the session's smoke bundle: the folder, its card, and `--check`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from device_bench import bundle
from device_bench.card import CARD, ITEM_FEATURES
from edgerec.cli import main
from tests.utils import NO_TENSORFLOW, blocked_import_env

VOCABS = ["item_category", "item_id", "item_price", "user_age", "user_id", "user_region"]


def _lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


def _run(*argv):
    return CliRunner().invoke(main, ["export", *map(str, argv)])


@pytest.fixture(scope="module")
def android(smoke_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "assets"
    result = _run(smoke_bundle, "--target", "android", "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def copy_of(tmp_path):
    """A copy of an exported folder (or of a bundle's contract files) to damage."""

    def _copy(folder, name="copy"):
        target = tmp_path / name
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns("*.png", ".edgerec-build.lock"))
        return target

    return _copy


def _edit_card(folder, edit):
    path = folder / CARD
    card = json.loads(path.read_text())
    edit(card)
    path.write_text(json.dumps(card))


def test_android_export_holds_the_models_vocabularies_item_table_and_card_only(android, smoke_bundle):
    # setup
    manifest = bundle.read_manifest(smoke_bundle)
    by_name = {bundle.artifact_name(a["file"]): a for a in manifest["artifacts"]}
    bench = json.loads((smoke_bundle / bundle.BENCH).read_text())

    # execute
    card = json.loads((android / CARD).read_text())
    files = sorted(str(p.relative_to(android)) for p in android.rglob("*") if p.is_file())

    # assert: nothing else, and the files are the bundle's
    assert files == sorted([CARD, ITEM_FEATURES, "retrieval_int8.tflite", "student_int8.tflite",
                            *(f"vocab/{v}.txt" for v in VOCABS)])
    assert list(card["models"]) == [bundle.STUDENT_INT8, bundle.RETRIEVAL]
    for name, model in card["models"].items():
        assert model["sha256"] == by_name[name]["sha256"] and model["bytes"] == by_name[name]["bytes"]
        rows = [r for r in bench["rows"] if r["artifact"] == model["file"]]
        assert [m["metrics"] for m in model["measured"]] == [r["metrics"] for r in rows] and rows
        assert [m["latency_us"] for m in model["measured"]] == [r["latency_us"] for r in rows]
    assert card["measured_on"]["environment"] == bench["environment"]
    assert card["versions"] == manifest["versions"]
    # the signatures as the interpreter reads them: the ranker's output key is not the manifest's tensor name
    retrieval_card = card["models"][bundle.RETRIEVAL]
    assert sorted(retrieval_card["signatures"]) == ["recommend", "score"]
    recommend = retrieval_card["signatures"]["recommend"]
    k = retrieval_card["retrieval"]["top_k"]
    assert k == by_name[bundle.RETRIEVAL]["retrieval"]["top_k"]
    assert [(t["name"], t["dtype"], t["shape"], t["vocabulary"]) for t in recommend["outputs"]] == [
        ("items", "int32", [-1, k], "item_id"), ("scores", "float32", [-1, k], None)]
    assert {t["name"] for t in recommend["inputs"]} == {"user_id", "user_age", "user_region"}
    ranker_outputs = card["models"][bundle.STUDENT_INT8]["signatures"]["serving_default"]["outputs"]
    assert [t["dtype"] for t in ranker_outputs] == ["float32"]
    # vocabularies with their line counts, as the manifest's schema sizes them
    sizes = {f["name"]: f["vocab_size"] for f in manifest["schema"]["features"]}
    assert {v: card["vocabularies"][v]["lines"] for v in VOCABS} == {v: sizes[v] for v in VOCABS}
    assert card["item_features"]["columns"] == ["item_id", "item_category", "item_price"]
    assert card["item_features"]["rows"] == sizes["item_id"]
    # what an Android engineer needs to know
    assert card["target"]["name"] == "android" and card["target"]["assets_dir"] == "app/src/main/assets"
    assert 'noCompress += "tflite"' in card["target"]["uncompressed"]["gradle_kts"]
    assert card["target"]["runtime"]["maven"] == "com.google.ai.edge.litert:litert"


def test_a_fresh_export_passes_check(android):
    result = _run("--check", android)

    assert result.exit_code == 0, result.output
    [line] = _lines(result)
    assert line.startswith(f"ok: {android}: 2 model(s), 3 signature(s), 6 vocabularies, {ITEM_FEATURES}")


def test_linux_export_of_the_retrieval_model_alone_carries_its_vocabularies_only(smoke_bundle, tmp_path):
    out = tmp_path / "linux"

    result = _run(smoke_bundle, "--target", "linux", "--out", out, "--artifacts", "retrieval_int8")

    assert result.exit_code == 0, result.output
    card = json.loads((out / CARD).read_text())
    assert list(card["models"]) == [bundle.RETRIEVAL] and card["item_features"] is None
    assert sorted(card["vocabularies"]) == ["item_id", "user_age", "user_id", "user_region"]
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(
        [CARD, "retrieval_int8.tflite", "item_id.txt", "user_age.txt", "user_id.txt", "user_region.txt"])
    assert card["target"]["runtime"]["pip"] == ["ai-edge-litert", "tflite-runtime"]
    assert _run("--check", out).exit_code == 0


@pytest.mark.parametrize("edit, reason", [
    (lambda c: c["models"]["student_int8"]["signatures"]["serving_default"]["inputs"][0].update(dtype="int64"),
     "student_int8.tflite serving_default input 'item_category' dtype: the card says 'int64', the model has 'int32'"),
    (lambda c: c["models"]["retrieval_int8"].update(sha256="0" * 64),
     "retrieval_int8.tflite: sha256 "),
    (lambda c: c["models"]["retrieval_int8"]["signatures"]["recommend"]["inputs"][1].update(name="uid"),
     "retrieval_int8.tflite recommend input 'uid' is in the card, not in the model"),
    (lambda c: c["models"]["retrieval_int8"]["signatures"]["score"]["outputs"][0].update(
        quantization={"scale": 0.1, "zero_point": 0}),
     "retrieval_int8.tflite score output 'scores' quantization: the card says"),
    (lambda c: c["models"]["retrieval_int8"]["retrieval"].update(top_k=7),
     "retrieval_int8.tflite: retrieval.top_k is 7 in the card, K = "),
    (lambda c: c["vocabularies"]["user_id"].update(lines=5),
     "vocab/user_id.txt: 301 lines, the card says 5"),
    (lambda c: c["models"]["student_int8"]["signatures"]["serving_default"].pop("outputs"),
     "student_int8.tflite serving_default output 'quant_score' is in the model, not in the card"),
])
def test_a_card_that_differs_from_its_files_fails_check_in_one_line(android, copy_of, edit, reason):
    # setup
    folder = copy_of(android)
    _edit_card(folder, edit)

    # execute
    result = _run("--check", folder)

    # assert
    assert result.exit_code == 2
    [line] = _lines(result)
    assert line.startswith(f"Error: {folder / CARD} does not match the files: ")
    assert reason in line


def test_a_vocabulary_shorter_than_the_model_table_fails_check_even_with_a_matching_card(android, copy_of):
    # setup: drop the last user and make the card agree with the file: only the model can tell
    folder = copy_of(android)
    vocab = folder / "vocab" / "user_id.txt"
    vocab.write_text("".join(vocab.read_text().splitlines(keepends=True)[:-1]))
    _edit_card(folder, lambda c: c["vocabularies"]["user_id"].update(
        lines=c["vocabularies"]["user_id"]["lines"] - 1, sha256=bundle.sha256(vocab), bytes=vocab.stat().st_size))

    # execute
    result = _run("--check", folder)

    # assert
    assert result.exit_code == 2 and len(_lines(result)) == 1
    assert "retrieval_int8.tflite recommend input 'user_id': the model takes index 300, past the 300 lines" in result.output


def test_a_missing_model_file_fails_check(android, copy_of):
    folder = copy_of(android)
    (folder / "student_int8.tflite").unlink()

    result = _run("--check", folder)

    assert result.exit_code == 2 and _lines(result) == [
        f"Error: {folder / CARD} does not match the files: student_int8.tflite: missing"]


@pytest.mark.parametrize("argv, message", [
    (["--target", "ios"], "Error: --target: 'ios' is not a target. Expected one of: android, linux"),
    (["--target", "andriod"], "Error: --target: 'andriod' is not a target. Did you mean 'android'?"),
    (["--target", "android", "--artifacts", "student_in8"],
     "Error: --artifacts: 'student_in8' is not an artifact of {bundle}. Did you mean 'student_int8'?"),
    (["--out", "{out}"], "Error: --target: missing; expected one of: android, linux"),
])
def test_bad_flags_are_one_line_naming_the_flag(smoke_bundle, tmp_path, argv, message):
    out = tmp_path / "out"
    argv = [a.format(out=out) for a in argv] + ([] if "--out" in argv else ["--out", str(out)])

    result = _run(smoke_bundle, *argv)

    assert result.exit_code == 2
    [line] = _lines(result)
    assert line.startswith(message.format(bundle=smoke_bundle))
    assert not out.exists()


def test_check_takes_no_export_flags(android):
    result = _run("--check", android, "--target", "linux")

    assert result.exit_code == 2
    assert _lines(result) == ["Error: --check takes only the exported folder; --target belong to an export"]


def test_a_non_empty_out_is_refused_unless_forced_and_forcing_removes_the_old_exports_files(
        smoke_bundle, tmp_path):
    # setup: a full export, and a file of the user's own
    out = tmp_path / "assets"
    assert _run(smoke_bundle, "--target", "android", "--out", out).exit_code == 0
    (out / "theirs.txt").write_text("kept")

    # execute
    refused = _run(smoke_bundle, "--target", "android", "--out", out, "--artifacts", "retrieval_int8")
    forced = _run(smoke_bundle, "--target", "android", "--out", out, "--artifacts", "retrieval_int8", "--force")

    # assert
    assert refused.exit_code == 2
    assert _lines(refused) == [f"Error: --out: {out} is not empty; choose an empty or new folder, "
                               "or pass --force to write into it"]
    assert forced.exit_code == 0, forced.output
    assert not (out / "student_int8.tflite").exists() and not (out / ITEM_FEATURES).exists()
    assert not (out / "vocab" / "item_price.txt").exists()
    assert (out / "theirs.txt").read_text() == "kept"
    assert _run("--check", out).exit_code == 0


@pytest.mark.parametrize("missing, message", [
    ("bench.json", "bench.json: no such file (the card reports its measured rows)"),
    ("vocab/user_region.txt", "vocab/user_region.txt: no such file (the user_region vocabulary"),
    ("student_int8.tflite", "student_int8.tflite: no such file (listed in manifest.json)"),
    ("eval.npz", "eval.npz: no such file (its catalogue/ part gives the item features"),
    ("manifest.json", "manifest.json: no such file (the bundle manifest)"),
])
def test_a_bundle_missing_a_file_is_one_line_naming_it(smoke_bundle, copy_of, tmp_path, missing, message):
    # setup
    source = copy_of(smoke_bundle, "bundle")
    (source / missing).unlink()

    # execute
    result = _run(source, "--target", "linux", "--out", tmp_path / "out")

    # assert
    assert result.exit_code == 2
    [line] = _lines(result)
    assert line.startswith(f"Error: {source / missing}: ") and message in line


def test_a_tampered_bundle_artifact_is_refused(smoke_bundle, copy_of, tmp_path):
    source = copy_of(smoke_bundle, "bundle")
    path = source / "retrieval_int8.tflite"
    path.write_bytes(path.read_bytes()[:-1] + b"\0")

    result = _run(source, "--target", "linux", "--out", tmp_path / "out")

    assert result.exit_code == 2
    assert _lines(result) == [f"Error: {path}: sha256 differs from manifest.json's: not the file that was built and benched"]


def test_export_and_check_run_without_tensorflow(smoke_bundle, tmp_path):
    # setup: a Python in which TensorFlow cannot be imported, as with pip install 'edgerec[device]'
    env, log = blocked_import_env(tmp_path, (*NO_TENSORFLOW, "converters"))
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from edgerec.cli import main; main()", "export"]

    # execute
    written = subprocess.run([*command, str(smoke_bundle), "--target", "android", "--out", str(out)],
                             env=env, capture_output=True, text=True)
    checked = subprocess.run([*command, "--check", str(out)], env=env, capture_output=True, text=True)

    # assert
    assert written.returncode == 0, written.stderr
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"ok: {out}: 2 model(s)")
    assert not log.exists(), f"tried to import: {log.read_text()}"
