"""`edgerec export --check`: an exported folder read back with a bare interpreter and compared with its card.

What an app relies on is the card (``device_bench.card``), so :func:`check` verifies that it still
describes its files: the files themselves, their sha256 and bytes, every signature's names,
dtypes, shapes and quantization, K, the item table's columns and index ranges, and each
vocabulary's length against the model itself (index ``lines - 1`` must run, index ``lines`` must
be refused: TFLite's GATHER checks its bounds), so a card that no longer describes its files
fails, even one edited to match a shortened vocabulary. The export runs the same range check
(:func:`range_problems`) on the bundle before writing. Stdlib, numpy and an interpreter only,
like the rest of ``device_bench``: it runs where ``pip install 'edgerec[device]'`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from device_bench import bundle, retrieval, runtime
from device_bench.card import CARD, ITEM_ID, CheckError, is_inside, read_card, read_vocabulary, signatures


def _zeros(detail: dict[str, Any]) -> np.ndarray:
    return np.zeros([1, *(max(int(d), 1) for d in detail["shape_signature"][1:])], dtype=detail["dtype"])


def _runs(runner: Any, feed: dict[str, np.ndarray]) -> bool:
    try:
        runner(**feed)
    except (RuntimeError, ValueError):
        return False
    return True


def range_problems(interpreter: Any, model: dict[str, Any], lines: dict[str, int], where: str) -> list[str]:
    """Each vocabulary against the model: a row of OOV indices runs, index ``lines - 1`` of each
    input runs and index ``lines`` is refused (TFLite's GATHER refuses an index past its table). The check
    runs it on an exported folder, the export on the bundle before it writes one."""
    problems = []
    for key, signature in model["signatures"].items():
        if key not in interpreter.get_signature_list():
            continue  # reported by the signature comparison
        runner = interpreter.get_signature_runner(key)
        details = runner.get_input_details()
        base = {name: _zeros(detail) for name, detail in details.items()}
        if not _runs(runner, base):
            problems.append(f"{where} {key}: fails on a row of OOV indices (0)")
            continue
        for tensor in signature.get("inputs", []):
            name, vocab = tensor.get("name"), tensor.get("vocabulary")
            if name not in details or vocab not in lines:
                continue
            n = lines[vocab]
            if not _runs(runner, {**base, name: np.full_like(base[name], n - 1)}):
                problems.append(f"{where} {key} input {name!r}: index {n - 1} (the last of {vocab}'s {n} lines) "
                                "is past the model's table")
            if _runs(runner, {**base, name: np.full_like(base[name], n)}):
                problems.append(f"{where} {key} input {name!r}: the model takes index {n}, "
                                f"past the {n} lines of {vocab}'s vocabulary")
    return problems


def _file_problems(folder: Path, entry: dict[str, Any], what: str) -> list[str]:
    relative = entry.get("file")
    if not (isinstance(relative, str) and is_inside(relative)):
        return [f"{what}: file {relative!r} is not a path inside the folder"]
    path = folder / relative
    if not path.is_file():
        return [f"{relative}: missing"]
    problems = []
    if path.stat().st_size != entry.get("bytes"):
        problems.append(f"{relative}: {path.stat().st_size} bytes, the card says {entry.get('bytes')}")
    digest = bundle.sha256(path)
    if digest != entry.get("sha256"):
        problems.append(f"{relative}: sha256 {digest[:12]}..., the card says {str(entry.get('sha256'))[:12]}...")
    return problems


def _tensor_problems(card: list[Any], model: list[dict[str, Any]], where: str) -> list[str]:
    card_by_name = {t.get("name"): t for t in card if isinstance(t, dict)}
    model_by_name = {t["name"]: t for t in model}
    problems = [f"{where} {name!r} is in the card, not in the model (it has {', '.join(model_by_name)})"
                for name in card_by_name if name not in model_by_name]
    problems += [f"{where} {name!r} is in the model, not in the card"
                 for name in model_by_name if name not in card_by_name]
    for name in sorted(card_by_name.keys() & model_by_name.keys()):
        for key in ("dtype", "shape", "quantization"):
            if card_by_name[name].get(key) != model_by_name[name][key]:
                problems.append(f"{where} {name!r} {key}: the card says {card_by_name[name].get(key)!r}, "
                                f"the model has {model_by_name[name][key]!r}")
    return problems


def _model_problems(folder: Path, name: str, model: dict[str, Any], lines: dict[str, int],
                    runtime_name: str | None) -> tuple[list[str], runtime.RuntimeInfo | None]:
    problems = _file_problems(folder, model, f"models.{name}")
    path = folder / model["file"]
    if not is_inside(model["file"]) or not path.is_file():
        return problems, None
    try:
        interpreter, info = runtime.load(path, runtime=runtime_name)
        actual = signatures(interpreter)
    except (ValueError, RuntimeError) as exc:
        return problems + [f"{model['file']}: the interpreter cannot read it ({exc})"], None
    where = model["file"]
    for key in sorted(model["signatures"].keys() - actual.keys()):
        problems.append(f"{where}: signature {key!r} is in the card, not in the model (it has {', '.join(actual)})")
    for key in sorted(actual.keys() - model["signatures"].keys()):
        problems.append(f"{where}: signature {key!r} is in the model, not in the card")
    for key in sorted(model["signatures"].keys() & actual.keys()):
        card_signature = model["signatures"][key] if isinstance(model["signatures"][key], dict) else {}
        for part in ("inputs", "outputs"):
            problems += _tensor_problems(card_signature.get(part, []), actual[key][part], f"{where} {key} {part[:-1]}")
    if retrieval.RECOMMEND in actual:
        k = retrieval.top_k(interpreter)
        facts = model.get("retrieval") if isinstance(model.get("retrieval"), dict) else {}
        if facts.get("top_k") != k:
            problems.append(f"{where}: retrieval.top_k is {facts.get('top_k')!r} in the card, K = {k} in the model")
        if ITEM_ID in lines and facts.get("num_items", lines[ITEM_ID]) != lines[ITEM_ID]:
            problems.append(f"{where}: retrieval.num_items is {facts.get('num_items')!r}, "
                            f"the {ITEM_ID} vocabulary has {lines[ITEM_ID]} lines")
    if not problems:
        problems += range_problems(interpreter, model, lines, where)
    return problems, info


def _vocabulary_problems(folder: Path, card: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    problems, lines = [], {}
    for feature, entry in card["vocabularies"].items():
        problems += _file_problems(folder, entry, f"vocabularies.{feature}")
        if not is_inside(entry["file"]) or not (folder / entry["file"]).is_file():
            continue
        path = folder / entry["file"]
        values = read_vocabulary(path)
        lines[feature] = len(values)
        if len(values) != entry.get("lines"):
            problems.append(f"{entry['file']}: {len(values)} lines, the card says {entry.get('lines')}")
        if len(set(values)) != len(values):
            problems.append(f"{entry['file']}: repeats a value, so a raw value has no single index")
    used = {t.get("vocabulary") for m in card["models"].values() for s in m["signatures"].values() if isinstance(s, dict)
            for t in s.get("inputs", []) + s.get("outputs", []) if isinstance(t, dict)} - {None}
    problems += [f"a tensor's vocabulary {v!r} is not in the card's vocabularies"
                 for v in sorted(used - card["vocabularies"].keys())]
    return problems, lines


def _item_table_problems(folder: Path, card: dict[str, Any], lines: dict[str, int]) -> list[str]:
    entry = card.get("item_features")
    if entry is None:
        return []
    if not isinstance(entry, dict):
        return ["item_features is neither null nor an object"]
    problems = _file_problems(folder, entry, "item_features")
    if problems:
        return problems
    rows = (folder / entry["file"]).read_text(encoding="utf-8").split("\n")[:-1]
    header = rows[0].split("\t") if rows else []
    body = [r.split("\t") for r in rows[1:]]
    if header != entry.get("columns"):
        return [f"{entry['file']}: columns {header}, the card says {entry.get('columns')}"]
    try:
        table = np.asarray(body, dtype=np.int64).reshape(len(body), len(header))
    except ValueError:
        return [f"{entry['file']}: not a table of integer indices with {len(header)} columns"]
    if len(body) != entry.get("rows") or len(body) != lines.get(ITEM_ID, len(body)):
        problems.append(f"{entry['file']}: {len(body)} rows, the card says {entry.get('rows')} "
                        f"and the {ITEM_ID} vocabulary has {lines.get(ITEM_ID)} lines")
    elif header and header[0] == ITEM_ID and not np.array_equal(table[:, 0], np.arange(len(body))):
        problems.append(f"{entry['file']}: the {ITEM_ID} column is not 0..{len(body) - 1}")
    for column, values in zip(header, table.T):
        if column in lines and values.size and not (0 <= values.min() and values.max() < lines[column]):
            problems.append(f"{entry['file']}: column {column} holds indices outside its {lines[column]}-line vocabulary")
    return problems


def check(folder: str | Path, runtime_name: str | None = None) -> str:
    """Verify the exported ``folder`` against its card; returns a one-line summary.

    Raises:
      CheckError: one line listing every difference (a missing file, a sha256, a tensor's name,
        dtype, shape or quantization, K, a vocabulary's length against the model's table).
    """
    folder = Path(folder)
    card = read_card(folder)
    problems, lines = _vocabulary_problems(folder, card)
    info = None
    for name, model in card["models"].items():
        found, read_with = _model_problems(folder, name, model, lines, runtime_name)
        problems += found
        info = read_with or info
    problems += _item_table_problems(folder, card, lines)
    if problems:
        raise CheckError(f"{folder / CARD} does not match the files: {'; '.join(problems)}")
    count = sum(len(m["signatures"]) for m in card["models"].values())
    table = f", {card['item_features']['file']}" if card.get("item_features") else ""
    runner = f"{info.name} {info.version}" if info else "no interpreter"
    return (f"ok: {folder}: {len(card['models'])} model(s), {count} signature(s), {len(card['vocabularies'])} "
            f"vocabularies{table} match {CARD} (read with {runner})")
