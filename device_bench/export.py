"""`edgerec export`: from a bundle, the folder an app ships (its format: ``device_bench.card``).

An export holds what an app needs and nothing else, each part read from the bundle's own files,
so the card describes what an interpreter finds in them rather than what the recipe asked for:

- the chosen ``.tflite`` files (default: ``student_int8`` and ``retrieval_int8``, those the bundle
  has), refused when their sha256 differs from the manifest's: the card reports the bundle's
  measured rows, which describe those exact files;
- the vocabularies their tensors hold indices of (the manifest's ``schema.vocabularies``): an app
  maps raw ids to model inputs with them, so each is checked against the manifest's size and
  against the model's own table (``card_check.range_problems``) before anything is written;
- ``item_features.tsv`` when an exported ranker takes item side features: an app knows an item's
  raw id, not its category, so the table gives each item index's feature indices (the bundle's
  ``eval.npz`` ``catalogue/`` part, the very rows its bench fed the rankers in the two-stage pass);
- ``model_card.json``, with the target's packaging (``TARGETS``: for Android, where the files go
  and why a ``.tflite`` asset must stay uncompressed), written last so a folder with a card is
  complete.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from device_bench import bundle, evalset, retrieval, runtime
from device_bench.atomic import atomic_path, remove_leftovers
from device_bench.card import (CARD, FORMAT, ITEM_FEATURES, ITEM_ID, ITEM_OWNER, CheckError, is_inside, read_card,
                               read_vocabulary, signatures)
from device_bench.card_check import range_problems
from device_bench.errors import EdgerecError, suggest

DEFAULT_ARTIFACTS = (bundle.STUDENT_INT8, bundle.RETRIEVAL)
# the retrieval model's tensors of item indices (into the item_id vocabulary)
ITEM_INDEX_TENSORS = (retrieval.CANDIDATES, retrieval.ITEMS)
# what a bench row tells an app, out of device_bench.rows.ROW_KEYS
MEASURED_KEYS = ("threads", "batch", "runtime", "xnnpack", "reference_kernels", "status", "latency_us",
                 "peak_rss_bytes", "items_per_s", "metrics")
ANDROID_ASSETS = "app/src/main/assets"

TARGETS: dict[str, dict[str, Any]] = {
    "android": {
        "install": f"copy this folder's content into {ANDROID_ASSETS}/ keeping its relative paths: the card names "
                   "every file by its asset path",
        "assets_dir": ANDROID_ASSETS,
        "uncompressed": {
            "rule": "store .tflite assets uncompressed: the interpreter memory-maps the model from the APK "
                    "(AssetManager.openFd), which a compressed asset cannot give",
            "gradle_kts": 'android { androidResources { noCompress += "tflite" } }',
        },
        "runtime": {
            "maven": "com.google.ai.edge.litert:litert",
            "api": "org.tensorflow.lite.Interpreter(MappedByteBuffer).runSignature(inputs, outputs, signature), "
                   "inputs and outputs keyed by the tensor names below; see docs/android.md",
        },
    },
    "linux": {
        "install": "copy this folder to the device",
        "runtime": {
            "pip": ["ai-edge-litert", "tflite-runtime"],
            "note": "either interpreter package; tflite-runtime has wheels for Python <= 3.11 and needs numpy<2",
            "client": "device_bench.client.Recommender(folder) from pip install 'edgerec[device]' maps raw ids, "
                      "calls the signatures and maps items back",
        },
    },
}


class ExportError(EdgerecError, ValueError):
    """A bad export request or a bundle that cannot be exported (the message names the flag or file)."""


def _manifest(source: Path) -> dict[str, Any]:
    try:
        manifest = bundle.read_manifest(source)
    except bundle.BundleError as exc:
        raise ExportError(str(exc)) from None
    schema = manifest.get("schema")
    if not (isinstance(schema, dict) and isinstance(schema.get("vocabularies"), dict)
            and isinstance(schema.get("features"), list)):
        raise ExportError(f"{source / bundle.MANIFEST}: lacks schema.features and schema.vocabularies "
                          "(how an app maps raw ids to model inputs)")
    return manifest


def _chosen(manifest: dict[str, Any], source: Path, names: Sequence[str] | None) -> list[dict[str, Any]]:
    by_name = {bundle.artifact_name(entry["file"]): entry for entry in manifest["artifacts"]}
    if names is None:
        chosen = [name for name in DEFAULT_ARTIFACTS if name in by_name]
        if not chosen:
            raise ExportError(f"{source}: has none of the default artifacts {', '.join(DEFAULT_ARTIFACTS)}; "
                              f"choose with --artifacts among {', '.join(by_name)}")
    else:
        chosen = list(dict.fromkeys(bundle.artifact_name(n.strip()) for n in names if n.strip()))
        if not chosen:
            raise ExportError("--artifacts: expected comma-separated artifact names such as student_int8,retrieval_int8")
        for name in chosen:
            if name not in by_name:
                raise ExportError(f"--artifacts: {name!r} is not an artifact of {source}.{suggest(name, by_name)} "
                                  f"Artifacts: {', '.join(by_name)}")
    entries = [by_name[name] for name in chosen]
    for entry in entries:
        path = source / entry["file"]
        if not path.is_file():
            raise ExportError(f"{path}: no such file (listed in {bundle.MANIFEST})")
        if entry.get("sha256") and bundle.sha256(path) != entry["sha256"]:
            raise ExportError(f"{path}: sha256 differs from {bundle.MANIFEST}'s: not the file that was built and benched")
    return entries


def _check_out(out: Path, source: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out: {out} exists and is not a folder")
    if out.resolve() == source.resolve():
        raise ExportError(f"--out: {out} is the bundle itself; export into another folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"--out: {out} is not empty; choose an empty or new folder, or pass --force to write into it")


def _feature_of(tensor: str, is_retrieval: bool, vocabularies: dict[str, str]) -> str | None:
    if tensor in vocabularies:
        return tensor
    if is_retrieval and tensor in ITEM_INDEX_TENSORS:
        return ITEM_ID
    return None


def _measured(rows: list[dict[str, Any]], file: str) -> list[dict[str, Any]]:
    return [{key: row.get(key) for key in MEASURED_KEYS} for row in rows if row.get("artifact") == file]


def _bench(source: Path) -> dict[str, Any]:
    path = source / bundle.BENCH
    if not path.is_file():
        raise ExportError(f"{path}: no such file (the card reports its measured rows); "
                          f"measure with `edgerec bench {source} --json {path}`")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None
    if not (isinstance(data, dict) and isinstance(data.get("rows"), list)):
        raise ExportError(f"{path}: expected {{environment, rows}} as `edgerec bench --json` writes")
    return data


def _item_table(source: Path, columns: list[str], num_items: int) -> str:
    """``item_features.tsv``: a header of the ranker's item inputs, then item index k's feature indices on line k + 2."""
    path = source / bundle.EVAL_SET
    if not path.is_file():
        raise ExportError(f"{path}: no such file (its catalogue/ part gives the item features {columns[1:]} "
                          "the ranker needs per item)")
    part = evalset.load(path).retrieval
    missing = [c for c in columns if part is None or c not in part.catalogue]
    if missing:
        raise ExportError(f"{path}: lacks catalogue/{', catalogue/'.join(missing)} (each item's inputs, which an app "
                          "needs to build ranker rows); rebuild the bundle with the current edgerec")
    table = np.stack([part.catalogue[c] for c in columns], axis=1)
    if table.shape[0] != num_items or not np.array_equal(table[:, 0], np.arange(num_items)):
        raise ExportError(f"{path}: catalogue/{ITEM_ID} is not the item indices 0..{num_items - 1} of the vocabulary")
    return "\t".join(columns) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in table.tolist())


def _file_facts(path: Path) -> dict[str, Any]:
    return {"sha256": bundle.sha256(path), "bytes": path.stat().st_size}


def _describe(source: Path, entries: list[dict[str, Any]], vocab_files: dict[str, str], bench: dict[str, Any],
              runtime_name: str | None) -> tuple[dict[str, Any], dict[str, Any], runtime.RuntimeInfo]:
    """The card's entry of each chosen artifact, read from its file by an interpreter, and the interpreters."""
    models, interpreters, read_with = {}, {}, None
    for entry in entries:
        path = source / entry["file"]
        try:
            interpreter, read_with = runtime.load(path, runtime=runtime_name)
            described = signatures(interpreter)
        except (ValueError, RuntimeError) as exc:
            raise ExportError(f"{path}: the interpreter cannot read it ({exc})") from None
        if not described:
            raise ExportError(f"{path}: has no signature; an app calls a model by signature (runSignature)")
        is_retrieval = retrieval.RECOMMEND in described
        for signature in described.values():
            for tensor in signature["inputs"] + signature["outputs"]:
                tensor["vocabulary"] = _feature_of(tensor["name"], is_retrieval, vocab_files)
        name = bundle.artifact_name(entry["file"])
        models[name] = {
            "file": entry["file"], **_file_facts(path), "role": entry.get("role", name), "mode": entry.get("mode"),
            "output_kind": entry.get("output_kind", bundle.OUTPUT_KIND), "signatures": described,
            "measured": _measured(bench["rows"], entry["file"]),
        }
        if is_retrieval:
            models[name]["retrieval"] = entry.get("retrieval") or {"top_k": retrieval.top_k(interpreter)}
        interpreters[name] = interpreter
    return models, interpreters, read_with


def _vocabularies(source: Path, models: dict[str, Any], vocab_files: dict[str, str],
                  features: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The card's entry of every vocabulary a model tensor holds indices of, checked against the manifest's sizes."""
    needed = sorted({t["vocabulary"] for m in models.values() for s in m["signatures"].values()
                     for t in s["inputs"] + s["outputs"] if t["vocabulary"] is not None})
    vocabularies = {}
    for feature in needed:
        relative = vocab_files[feature]
        if not (isinstance(relative, str) and is_inside(relative)):
            raise ExportError(f"{source / bundle.MANIFEST}: schema.vocabularies.{feature} {relative!r} is not a file "
                              "inside the bundle; refused")
        path = source / relative
        if not path.is_file():
            raise ExportError(f"{path}: no such file (the {feature} vocabulary, schema.vocabularies in {bundle.MANIFEST})")
        lines = len(read_vocabulary(path))
        size = features.get(feature, {}).get("vocab_size", lines)
        if lines != size:
            raise ExportError(f"{path}: {lines} lines, but {bundle.MANIFEST} gives {feature} {size} values")
        vocabularies[feature] = {"file": relative, **_file_facts(path), "lines": lines,
                                 "owner": features.get(feature, {}).get("owner")}
    return vocabularies


def _item_columns(models: dict[str, Any], features: dict[str, dict[str, Any]]) -> list[str]:
    """The rankers' item inputs besides the item id: what an app cannot know from an item's raw id."""
    return sorted({t["name"] for m in models.values() if retrieval.RECOMMEND not in m["signatures"]
                   for s in m["signatures"].values() for t in s["inputs"]
                   if features.get(t["name"], {}).get("owner") == ITEM_OWNER and t["name"] != ITEM_ID})


def export(
    source: str | Path, target: str, out: str | Path, artifacts: Sequence[str] | None = None, force: bool = False,
    runtime_name: str | None = None,
) -> dict[str, Any]:
    """Write the export of the bundle in ``source`` for ``target`` into ``out``; returns the card.

    Every file is written atomically and the card last, so a folder with a card is complete.
    ``force`` writes into a non-empty ``out``: files of the same names are replaced, files a previous
    export's card listed and this one does not write are removed, anything else stays.

    Raises:
      ExportError: a bad target, artifact name or --out; a bundle lacking a file the export needs, or
        whose vocabularies do not fit its models.
    """
    source, out = Path(source), Path(out)
    if target not in TARGETS:
        raise ExportError(f"--target: {target!r} is not a target.{suggest(target, TARGETS)} "
                          f"Expected one of: {', '.join(TARGETS)}")
    if not source.is_dir():
        raise ExportError(f"{source}: no such folder (a bundle written by `edgerec build`)")
    manifest = _manifest(source)
    entries = _chosen(manifest, source, artifacts)
    _check_out(out, source, force)
    schema, bench = manifest["schema"], _bench(source)
    features = {f.get("name"): f for f in schema["features"] if isinstance(f, dict)}

    models, interpreters, read_with = _describe(source, entries, schema["vocabularies"], bench, runtime_name)
    vocabularies = _vocabularies(source, models, schema["vocabularies"], features)
    lines = {feature: v["lines"] for feature, v in vocabularies.items()}
    problems = [p for name, model in models.items()
                for p in range_problems(interpreters[name], model, lines, model["file"])]
    if problems:
        raise ExportError(f"{source}: its vocabularies do not fit its models: {'; '.join(problems)}")
    item_columns = _item_columns(models, features)
    table = _item_table(source, [ITEM_ID, *item_columns], lines[ITEM_ID]) if item_columns and ITEM_ID in lines else None

    card = {
        "format": FORMAT,
        "target": {"name": target, **TARGETS[target]},
        "source": {"bundle": source.resolve().name, "manifest_sha256": bundle.sha256(source / bundle.MANIFEST),
                   "recipe": (manifest.get("recipe") or {}).get("name"), "data": schema.get("source"),
                   "seed": manifest.get("seed")},
        "versions": manifest.get("versions", {}),
        "read_with": {"name": read_with.name, "version": read_with.version},
        "oov": {"index": schema.get("oov_index", 0),
                "rule": schema.get("oov", "map any raw value missing from a vocabulary file to index 0"),
                "missing_feature": "a feature the app does not know is fed as the OOV index too"},
        "tensors": "inputs and outputs by name, never by position; `vocabulary`: the feature whose indices the "
                   "tensor holds (raw value of index k = line k of that vocabulary's file); `quantization`: "
                   "real = scale * (q - zero_point), null when the tensor is not quantized; shape -1: any size",
        "output": schema.get("output", "logit; apply sigmoid for a probability"),
        "models": models,
        "vocabularies": vocabularies,
        "item_features": None if table is None else {
            "file": ITEM_FEATURES, "rows": lines[ITEM_ID], "columns": [ITEM_ID, *item_columns],
            "format": "tab-separated; a header naming the ranker inputs, then one line per item index k = 0..rows-1 "
                      "(file line k + 2) holding item k's model-input indices: feed column c to the ranker input c "
                      "for a candidate whose item_id index is k",
        },
        "measured_on": {"file": bundle.BENCH, "environment": bench.get("environment"),
                        "latency_us": "one call of the model on that machine, in microseconds: for a ranker one batch "
                                      "of rows, for a retrieval model one `recommend` call for `batch` users"},
    }
    _write(source, out, card, table, force)
    return card


def _write(source: Path, out: Path, card: dict[str, Any], table: str | None, force: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    old = _listed(out) if force else set()
    if force:
        remove_leftovers(out)
    written = []
    for model in card["models"].values():
        written.append(model["file"])
        with atomic_path(out / model["file"]) as tmp:
            tmp.write_bytes((source / model["file"]).read_bytes())
    for relative in (v["file"] for v in card["vocabularies"].values()):
        written.append(relative)
        with atomic_path(out / relative) as tmp:
            tmp.write_bytes((source / relative).read_bytes())
    if table is not None:
        written.append(ITEM_FEATURES)
        with atomic_path(out / ITEM_FEATURES) as tmp:
            tmp.write_text(table, encoding="utf-8")
        card["item_features"].update(_file_facts(out / ITEM_FEATURES))
    for stale in sorted(old - set(written)):
        (out / stale).unlink(missing_ok=True)
    with atomic_path(out / CARD) as tmp:
        tmp.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")


def _listed(folder: Path) -> set[str]:
    """The files a previous export's card in ``folder`` lists (none when it has no readable card)."""
    try:
        card = read_card(folder)
    except CheckError:
        return set()
    files = [m["file"] for m in card["models"].values()] + [v["file"] for v in card["vocabularies"].values()]
    if isinstance(card.get("item_features"), dict):
        files.append(card["item_features"].get("file"))
    return {f for f in files if isinstance(f, str) and is_inside(f)}
