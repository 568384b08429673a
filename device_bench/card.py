"""The folder `edgerec export` writes and its model card: file names, format, readers, facts both sides share.

An exported folder holds what an app needs and nothing else; for Android it is the content of
``app/src/main/assets/`` as is (the card names every file by its path relative to the folder):

- the chosen ``.tflite`` files;
- ``vocab/<feature>.txt`` for every model tensor that holds indices of a feature (ids in, the
  retrieval model's ``items`` and ``candidates``): line k is the raw value of index k, and a raw
  value missing from the file is index 0 (OOV);
- ``item_features.tsv`` (``ITEM_FEATURES``) when an exported ranker takes item side features: a
  header naming the ranker's item inputs, then item index k's feature indices on line k + 2;
- ``model_card.json`` (``CARD``): every signature's tensors as an interpreter reads them from each
  file (name, dtype, shape, int8 scale and zero point), the OOV rule, the retrieval model's K and
  what its outputs mean, the sha256 and bytes of every file, the build's versions, the bundle's
  measured rows for these models with the machine that measured them, and the target's packaging.

The export (``device_bench.export``) writes this format; the check (``device_bench.card_check``)
and the reference client (``device_bench.client``) read it. What they must agree on lives here
once: the file names, ``FORMAT``, the id features, how a vocabulary file and the card are read,
and how a signature's tensors are described, so that the card the export writes and the
signatures the check reads back are compared in the same terms. Stdlib, numpy and an
interpreter only, like the rest of ``device_bench``.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from device_bench.errors import EdgerecError

CARD = "model_card.json"
ITEM_FEATURES = "item_features.tsv"
FORMAT = 1
USER_ID, ITEM_ID = "user_id", "item_id"  # the id features (the eval set and the retrieval model name them so)
ITEM_OWNER = "item"


class CheckError(EdgerecError, ValueError):
    """An exported folder that does not match its model card (the message says what differs)."""


def read_vocabulary(path: Path) -> list[str]:
    """The raw values of a vocabulary file, index k at position k ("\\n"-terminated lines, UTF-8)."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    return text.split("\n")[:-1]


def read_card(folder: str | Path) -> dict[str, Any]:
    """The model card of an exported folder, checked for the parts its readers index.

    Raises:
      CheckError: no card, not JSON, another format, or no models / vocabularies objects.
    """
    path = Path(folder) / CARD
    if not path.is_file():
        raise CheckError(f"{path}: no such file (the model card `edgerec export` writes)")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckError(f"{path}: not a model card of format {FORMAT}")
    for key in ("models", "vocabularies"):
        if not isinstance(card.get(key), dict):
            raise CheckError(f"{path}: {key} is not an object")
    for name, model in card["models"].items():
        if not (isinstance(model, dict) and isinstance(model.get("file"), str)
                and isinstance(model.get("signatures"), dict)):
            raise CheckError(f"{path}: models.{name} lacks file or signatures")
    for name, vocab in card["vocabularies"].items():
        if not (isinstance(vocab, dict) and isinstance(vocab.get("file"), str)):
            raise CheckError(f"{path}: vocabularies.{name} lacks file")
    return card


def is_inside(relative: str) -> bool:
    """Whether a path the card names stays inside the folder (relative, no ``..``): nothing outside is read or written."""
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts


def _tensor(name: str, detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero_point = detail["quantization"]
    return {
        "name": name,
        "dtype": np.dtype(detail["dtype"]).name,
        "shape": [int(d) for d in detail["shape_signature"]],
        "quantization": None if scale == 0.0 else {"scale": float(scale), "zero_point": int(zero_point)},
    }


def signatures(interpreter: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Every signature's inputs and outputs as the interpreter reads them (by name, sorted)."""
    result = {}
    for key in sorted(interpreter.get_signature_list()):
        runner = interpreter.get_signature_runner(key)
        result[key] = {
            "inputs": [_tensor(n, d) for n, d in sorted(runner.get_input_details().items())],
            "outputs": [_tensor(n, d) for n, d in sorted(runner.get_output_details().items())],
        }
        del runner  # a live runner keeps the interpreter from reallocating
    return result

