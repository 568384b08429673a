"""A reference client of an exported folder, without TensorFlow: raw ids in, raw item ids out.

It does what an app does with the folder ``edgerec export`` writes (docs/android.md shows the same
calls in Kotlin): map every raw value through its vocabulary file (a value the file lacks is the
OOV index 0), call a signature by name, map the returned item indices back to raw ids. It reads
only ``model_card.json``, the vocabularies, ``item_features.tsv`` and the ``.tflite`` files, never
the bundle, so what it computes is what an app can compute; the tests check that it reproduces
the bench's full-catalogue metrics from raw ids. Stdlib, numpy and an interpreter only, like the
rest of ``device_bench``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np

from device_bench import bundle, retrieval, runtime
from device_bench.card import ITEM_FEATURES, ITEM_ID, ITEM_OWNER, USER_ID, read_card, read_vocabulary
from device_bench.errors import EdgerecError, suggest

RawFeatures = Optional[Mapping[str, object]]  # a user feature's name -> its raw value


class ClientError(EdgerecError, ValueError):
    """A call the exported folder cannot answer (a k beyond K, an unknown feature, no such model)."""


def _dequantize(values: np.ndarray, tensor: dict[str, Any]) -> np.ndarray:
    """Real values of an output: ``scale * (q - zero_point)`` when the card says it is quantized."""
    q = tensor.get("quantization")
    values = np.asarray(values, dtype=np.float64)
    return values if not q else (values - q["zero_point"]) * q["scale"]


class Recommender:
    """The models of one exported folder behind raw-id calls.

    ``recommend`` and ``score`` need the retrieval model (the card's model with a ``recommend``
    signature); ``rank`` needs a ranker, ``student_int8`` when the folder holds several. Raw values
    are compared as text, as the vocabulary files hold them; a user feature left out of
    ``features`` is fed as OOV, like a value the vocabulary lacks (the card's ``oov`` rule).
    ``verify`` compares each file's sha256 with the card first, as an app should: the card's
    measured rows describe those exact files.
    """

    def __init__(self, folder: str | Path, runtime_name: str | None = None, num_threads: int = 1,
                 verify: bool = True):
        self.folder = Path(folder)
        self.card = read_card(self.folder)
        self.oov = int(self.card.get("oov", {}).get("index", 0))
        if verify:
            self._verify()
        self._values = {f: read_vocabulary(self.folder / v["file"]) for f, v in self.card["vocabularies"].items()}
        self._index = {f: {raw: i for i, raw in enumerate(values)} for f, values in self._values.items()}
        models = self.card["models"]
        retrievers = [n for n, m in models.items() if retrieval.RECOMMEND in m["signatures"]]
        rankers = [n for n in models if n not in retrievers]
        self.retrieval_name = retrievers[0] if retrievers else None
        self.ranker_name = bundle.STUDENT_INT8 if bundle.STUDENT_INT8 in rankers else (rankers[0] if rankers else None)
        self._interpreters = {
            name: runtime.load(self.folder / models[name]["file"], num_threads=num_threads, runtime=runtime_name)[0]
            for name in (self.retrieval_name, self.ranker_name) if name is not None
        }
        self._items = self._item_table()
        self._runners: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------ what the folder holds

    @property
    def top_k(self) -> int:
        """K: how many items ``recommend`` returns (fixed when the bundle was built)."""
        return int(self._retrieval()["retrieval"]["top_k"])

    @property
    def items(self) -> list[str]:
        """The raw item ids, index order (index 0 is the OOV item, never recommended)."""
        return list(self._values[ITEM_ID])

    def _verify(self) -> None:
        entries = [*self.card["models"].values(), *self.card["vocabularies"].values()]
        if isinstance(self.card.get("item_features"), dict):
            entries.append(self.card["item_features"])
        for entry in entries:
            path = self.folder / entry["file"]
            if not path.is_file() or bundle.sha256(path) != entry.get("sha256"):
                raise ClientError(f"{path}: missing or not the file the card describes (sha256); "
                                  f"run `edgerec export --check {self.folder}`")

    def _item_table(self) -> dict[str, np.ndarray]:
        """``item_features.tsv`` as columns of item-side model inputs, indexed by item index."""
        entry = self.card.get("item_features")
        if not isinstance(entry, dict):
            return {}
        lines = (self.folder / entry["file"]).read_text(encoding="utf-8").split("\n")[:-1]
        header = lines[0].split("\t")
        table = np.asarray([line.split("\t") for line in lines[1:]], dtype=np.int32).reshape(-1, len(header))
        return {name: table[:, i] for i, name in enumerate(header)}

    def _retrieval(self) -> dict[str, Any]:
        if self.retrieval_name is None:
            raise ClientError(f"{self.folder}: holds no retrieval model (with a `recommend` signature); "
                              f"export one with --artifacts {bundle.RETRIEVAL}")
        return self.card["models"][self.retrieval_name]

    def _runner(self, model: str, signature: str) -> Any:
        if (model, signature) not in self._runners:
            self._runners[model, signature] = self._interpreters[model].get_signature_runner(signature)
        return self._runners[model, signature]

    # ------------------------------------------------------------ raw values -> model inputs

    def _index_of(self, feature: str, raw: object) -> int:
        return self._index[feature].get(str(raw), self.oov)

    def _check_features(self, features: RawFeatures, known: set[str]) -> dict[str, object]:
        features = dict(features or {})
        for name in features:
            if name == USER_ID:
                raise ClientError(f"features: pass the user id as raw_user_id, not as features[{name!r}]")
            if name not in known:
                raise ClientError(f"features: {name!r} is not a user feature of {self.folder}'s models."
                                  f"{suggest(name, known)} Features: {', '.join(sorted(known)) or 'none'}")
        return features

    def _user_columns(self, tensors: list[dict[str, Any]], raw_user_id: object, features: RawFeatures,
                      rows: int) -> dict[str, np.ndarray]:
        """Each user-side input, mapped through its vocabulary and repeated for ``rows`` rows."""
        known = {t["name"] for t in tensors} - {USER_ID}
        given = self._check_features(features, known)
        columns = {}
        for tensor in tensors:
            name, vocabulary = tensor["name"], tensor.get("vocabulary")
            if vocabulary is None:
                raise ClientError(f"input {name!r} has no vocabulary in the card; this client maps raw values only")
            raw = raw_user_id if name == USER_ID else given.get(name)
            index = self.oov if raw is None else self._index_of(vocabulary, raw)
            columns[name] = np.full(rows, index, dtype=np.dtype(tensor["dtype"]))
        return columns

    def _signature(self, model: str, key: str) -> dict[str, Any]:
        return self.card["models"][model]["signatures"][key]

    # ------------------------------------------------------------ calls

    def recommend(self, raw_user_id: object, features: RawFeatures = None, k: int = 10,
                  exclude: Iterable[object] = ()) -> list[tuple[str, float]]:
        """The best ``k`` items for a user, best first, as (raw item id, logit).

        ``recommend`` returns K items and does not know what the user already has: ``exclude``
        drops those from its list, so k must be at most K minus the excluded items it returned.

        Raises:
          ClientError: k is not a positive integer, or fewer than k items are left.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ClientError(f"k must be a positive integer. Received: k={k!r}")
        self._retrieval()
        signature = self._signature(self.retrieval_name, retrieval.RECOMMEND)
        outputs = {t["name"]: t for t in signature["outputs"]}
        feed = self._user_columns(signature["inputs"], raw_user_id, features, 1)
        result = self._runner(self.retrieval_name, retrieval.RECOMMEND)(**feed)
        items = result[retrieval.ITEMS][0]
        scores = _dequantize(result[retrieval.SCORES][0], outputs[retrieval.SCORES])
        dropped = {self._index[ITEM_ID][str(raw)] for raw in exclude if str(raw) in self._index[ITEM_ID]}
        kept = [(int(i), float(s)) for i, s in zip(items, scores) if int(i) not in dropped]
        if len(kept) < k:
            raise ClientError(
                f"k={k} but only {len(kept)} of recommend's K={len(items)} items are left after excluding "
                f"{len(items) - len(kept)}; build the bundle with a larger retrieval.top_k (recipe `retrieval: top_k:`) "
                "and export it again")
        return [(self._values[ITEM_ID][i], s) for i, s in kept[:k]]

    def score(self, raw_user_id: object, features: RawFeatures, raw_item_ids: Iterable[object]) -> list[float]:
        """The retrieval model's logit of each item for a user (the logits ``recommend`` ranks by)."""
        self._retrieval()
        signature = self._signature(self.retrieval_name, retrieval.SCORE)
        users = [t for t in signature["inputs"] if t["name"] != retrieval.CANDIDATES]
        candidates = np.asarray([[self._index_of(ITEM_ID, raw) for raw in raw_item_ids]], dtype=np.int32)
        feed = self._user_columns(users, raw_user_id, features, 1)
        if candidates.shape[1] == 0:
            return []
        scores = self._runner(self.retrieval_name, retrieval.SCORE)(**feed, candidates=candidates)[retrieval.SCORES]
        output = next(t for t in signature["outputs"] if t["name"] == retrieval.SCORES)
        return _dequantize(scores[0], output).tolist()

    def rank(self, raw_user_id: object, features: RawFeatures, raw_item_ids: Iterable[object]) -> list[float]:
        """The ranker's logit of each (user, item) row: item side features come from ``item_features.tsv``.

        Raises:
          ClientError: the folder holds no ranker, or the ranker needs an item input the table lacks.
        """
        if self.ranker_name is None:
            raise ClientError(f"{self.folder}: holds no ranker; export one with --artifacts {bundle.STUDENT_INT8}")
        [key] = self.card["models"][self.ranker_name]["signatures"]
        signature = self._signature(self.ranker_name, key)
        owners = {f: v.get("owner") for f, v in self.card["vocabularies"].items()}
        item_side = [t for t in signature["inputs"] if owners.get(t.get("vocabulary")) == ITEM_OWNER]
        items = np.asarray([self._index_of(ITEM_ID, raw) for raw in raw_item_ids], dtype=np.int32)
        if items.size == 0:
            return []
        users = [t for t in signature["inputs"] if t not in item_side]
        feed = self._user_columns(users, raw_user_id, features, items.size)
        for tensor in item_side:
            name = tensor["name"]
            if name == ITEM_ID:
                feed[name] = items
            elif name in self._items:
                feed[name] = self._items[name][items].astype(np.dtype(tensor["dtype"]))
            else:
                raise ClientError(f"the ranker's input {name!r} is an item feature {ITEM_FEATURES} lacks")
        [output] = signature["outputs"]
        result = self._runner(self.ranker_name, key)(**feed)[output["name"]]
        return _dequantize(np.asarray(result).reshape(-1), output).tolist()
