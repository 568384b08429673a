"""Recipes: the whole build described as frozen dataclasses, read from YAML.

A recipe is the single source of truth for a build and is stored in the manifest, so a
bundle can be rebuilt. Parsing is strict: an unknown key is an error with a "did you mean"
suggestion (a typo must never silently fall back to a default), types are checked, and each
dataclass validates its ranges in `__post_init__` so the message names the bad value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from device_bench.errors import EdgerecError, suggest
from edgerec.distill import methods as distill_methods
from edgerec.models import architectures

BUILTIN_DIR = Path(__file__).parent / "recipes"


class RecipeError(EdgerecError, ValueError):
    """A recipe that cannot be used; the message names the key and what was expected."""


def _check(condition: bool, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise RecipeError(f"{key}: expected {expected}. Received: {value!r}")


WEIGHT_TRANSFERS = ("none", "pca")


@dataclass(frozen=True)
class DataConfig:
    """Where interactions come from and how the task is built from them (see data/task.py)."""

    synthetic_size: str = "default"  # used when no --data is given
    split: str = "leave_last_out"  # leave_last_out | random | time
    holdout_fraction: float = 0.2  # split: random
    time_quantile: float = 0.9  # split: time
    negatives_per_positive: int | str = "auto"  # pointwise training/eval negatives per positive; "auto": see data/negatives.py
    eval_candidates: int = 100  # NCF: the held-out positive ranked among 99 sampled negatives
    negative_sampling: str = "uniform"  # training negatives: uniform | popularity
    eval_negative_sampling: str = "uniform"  # eval candidates and pointwise negatives
    popularity_exponent: float = 0.75
    min_count: int = 1  # side-feature values on fewer users/items than this map to the OOV index
    # the encoder (`edgerec.text.ENCODERS`) of item text that has no stored vectors (the synthetic
    # presets' texts); prepared datasets keep the vectors `edgerec data prepare` made, and those win.
    # TF-IDF needs no extra and suits the synthetic texts, whose words are invented.
    text_encoder: str = "tfidf"

    def __post_init__(self) -> None:
        from edgerec.data.negatives import SAMPLING
        from edgerec.data.splits import SPLITS
        from edgerec.data.synthetic import SIZES
        from edgerec.text import ENCODERS

        hint = suggest(self.text_encoder, ENCODERS, " (did you mean '{}'?)")
        _check(self.text_encoder in ENCODERS, "text_encoder", f"one of {list(ENCODERS)}{hint}", self.text_encoder)
        _check(self.synthetic_size in SIZES, "synthetic_size", f"one of {sorted(SIZES)}", self.synthetic_size)
        _check(self.split in SPLITS, "split", f"one of {list(SPLITS)}", self.split)
        _check(0 < self.holdout_fraction < 1, "holdout_fraction", "a value in (0, 1)", self.holdout_fraction)
        _check(0 < self.time_quantile < 1, "time_quantile", "a value in (0, 1)", self.time_quantile)
        k = self.negatives_per_positive
        _check(k == "auto" or (isinstance(k, int) and k >= 1), "negatives_per_positive", "'auto' or an integer >= 1", k)
        _check(self.eval_candidates >= 2, "eval_candidates", ">= 2", self.eval_candidates)
        for key in ("negative_sampling", "eval_negative_sampling"):
            _check(getattr(self, key) in SAMPLING, key, f"one of {list(SAMPLING)}", getattr(self, key))
        _check(self.popularity_exponent >= 0, "popularity_exponent", ">= 0", self.popularity_exponent)
        _check(self.min_count >= 1, "min_count", ">= 1", self.min_count)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one ranker: embeddings per feature, then the `architecture`'s towers.

    `cross_layers` / `cross_projection_dim` belong to dcn_v2 (the default, which with no cross
    layers is the plain MLP every earlier recipe built).
    """

    embedding_dim: int
    hidden: tuple[int, ...]
    cross_layers: int = 0
    cross_projection_dim: int = 0  # 0: full-rank cross matrices
    architecture: str = "dcn_v2"
    # dcn_v2: add NeuMF's GMF branch (e_u * e_i on id tables of its own) when the data has both
    # ids; CTR data without them builds without it. Off by default so existing recipes build the same model.
    gmf: bool = False
    # dropout rate on the concatenated embeddings and after each hidden layer, in training only
    # (the exported model has none); 0 builds no Dropout layer
    dropout: float = 0.0
    # a frozen-text tower next to the id embeddings, reading the item's text vector (models/zoo.py);
    # the teacher's only: the student stays on ids and gets the text's knowledge by distillation
    item_text: bool = False
    # with item_text: the share of training examples whose row of each item id table is dropped
    # (a mask per table), so that the text must score them without it (models/zoo.py); no effect
    # without item_text. On the lastfm preset's
    # teacher (seed 0) 0.2 took tail NDCG@10 from 0.060 to 0.102 for 0.045 of head NDCG@10; 0.5 cost
    # more head (0.112) and gained no more tail.
    item_id_dropout: float = 0.2

    def __post_init__(self) -> None:
        known = list(architectures.REGISTRY)
        _check(self.architecture in known, "architecture", f"one of {known}", self.architecture)
        _check(self.embedding_dim >= 1, "embedding_dim", ">= 1", self.embedding_dim)
        _check(self.cross_projection_dim >= 0, "cross_projection_dim", ">= 0 (0 = full rank)", self.cross_projection_dim)
        _check(all(h >= 1 for h in self.hidden), "hidden", "positive layer widths", self.hidden)
        _check(self.cross_layers >= 0, "cross_layers", ">= 0", self.cross_layers)
        _check(0.0 <= self.dropout < 1.0, "dropout", "a rate in [0, 1)", self.dropout)
        _check(0.0 <= self.item_id_dropout < 1.0, "item_id_dropout", "a rate in [0, 1)", self.item_id_dropout)
        _check(not self.gmf or self.architecture == "dcn_v2", "gmf",
               f"false for architecture '{self.architecture}' (dcn_v2 only; neumf always has it)", self.gmf)
        if not architectures.REGISTRY[self.architecture].cross:
            crossing = ", ".join(name for name, architecture in architectures.REGISTRY.items() if architecture.cross)
            for key in ("cross_layers", "cross_projection_dim"):
                _check(getattr(self, key) == 0, key, f"0 for architecture '{self.architecture}' ({crossing} only)",
                       getattr(self, key))


LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """How one model trains. Every build scores each epoch on a validation split carved from the
    training data and keeps the best epoch: `max_epochs` caps the epochs, `patience` is how many
    epochs in a row without a better validation score end training early, and `max_steps` (0: no
    cap) lowers the epoch cap on large data so a stage runs about that many optimizer steps, and
    at least one epoch: one recipe then gives a 100-thousand-row log tens of epochs and a
    10-million-row log a few."""

    max_epochs: int = 3
    patience: int = 2
    max_steps: int = 0
    batch_size: int = 2048
    learning_rate: float = 1e-3
    weight_decay: float = 0.0  # decoupled (AdamW); 0 trains with plain Adam
    lr_schedule: str = "constant"  # constant | cosine (to a tenth over max_epochs)
    # 0: off. Else the batch is lowered (never raised) so an epoch runs at least this many steps:
    # on a few thousand rows a 4096-row batch gives one or two steps an epoch, and an epoch-based
    # early stop then sees a model that has barely moved.
    min_steps_per_epoch: int = 0

    def __post_init__(self) -> None:
        _check(0.0 <= self.weight_decay < 1.0, "weight_decay", "a value in [0, 1)", self.weight_decay)
        _check(self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {', '.join(LR_SCHEDULES)}", self.lr_schedule)
        _check(self.max_epochs >= 1, "max_epochs", ">= 1", self.max_epochs)
        _check(self.patience >= 1, "patience", ">= 1", self.patience)
        _check(self.max_steps >= 0, "max_steps", ">= 0 (0: no step cap)", self.max_steps)
        _check(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        _check(self.min_steps_per_epoch >= 0, "min_steps_per_epoch", ">= 0 (0: off)", self.min_steps_per_epoch)
        _check(self.learning_rate > 0, "learning_rate", "> 0", self.learning_rate)


@dataclass(frozen=True)
class DistillMethod:
    """One distillation method (edgerec.distill.methods) and its weight in the sum.

    The fields after `weight` are the union of the methods' parameters (one YAML key each); a
    method takes only its own, and those left out take the registry's defaults.
    """

    name: str
    weight: float = 1.0
    student_layer: str | None = None
    teacher_layer: str | None = None
    top_k: int | None = None
    candidates: int | None = None
    position_weights: str | None = None
    decay: float | None = None

    def __post_init__(self) -> None:
        known = list(distill_methods.REGISTRY)
        _check(self.name in known, "name", f"one of {known}", self.name)
        _check(self.weight > 0, "weight", "> 0", self.weight)
        method = distill_methods.REGISTRY[self.name]
        given = self._given()
        for key, value in given.items():
            if key not in method.params:
                raise RecipeError(
                    f"{key}: not a parameter of method '{self.name}' (it takes: {', '.join(method.params) or 'none'}). "
                    f"Received: {value!r}"
                )
        resolved = method.resolve(given)
        for key, param in method.params.items():  # a value left out takes the default, valid by construction
            if key in given or param.required:
                _check(param.valid(resolved[key], resolved), key, param.expected, resolved[key])

    def _given(self) -> dict:
        """The method parameters the recipe sets (the fields after `weight` that are not None)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)[2:]}
        return {key: value for key, value in values.items() if value is not None}

    def params(self) -> dict:
        """Every parameter of the method: the recipe's values over the registry's defaults."""
        return distill_methods.REGISTRY[self.name].resolve(self._given())

    def label(self) -> str:
        """'ranking ×0.5 (top_k 3)': the name, the weight when it is not 1 and the parameters the recipe sets."""
        weight = "" if self.weight == 1.0 else f" ×{self.weight:g}"
        given = ", ".join(f"{key} {value}" for key, value in self._given().items())
        return f"{self.name}{weight}{f' ({given})' if given else ''}"


@dataclass(frozen=True)
class CompareConfig:
    """`distill.compare`: the build also runs the distillation ablation (as `edgerec distill --compare`)
    with its own teacher, and writes ablation.json / ablation.md into the bundle."""

    seeds: tuple[int, ...] = (0, 1, 2)
    methods: tuple[str, ...] = ()  # empty: every method the data can feed

    def __post_init__(self) -> None:
        _check(len(self.seeds) >= 1 and all(s >= 0 for s in self.seeds), "seeds", "at least one seed >= 0", self.seeds)
        _check(len(set(self.seeds)) == len(self.seeds), "seeds", "each seed once", self.seeds)
        known = list(distill_methods.REGISTRY)
        for name in self.methods:
            hint = suggest(name, known, " (did you mean '{}'?)")
            _check(name in known, "methods", f"methods among {', '.join(known)}{hint}", name)
        _check(len(set(self.methods)) == len(self.methods), "methods", "each method once", self.methods)


MAX_CANDIDATES = 12  # distilled students one build trains, one per (alpha, temperature, method list)


@dataclass(frozen=True)
class DistillConfig:
    """loss = alpha * BCE(y, s) + (1 - alpha) * sum_i weight_i * method_i(teacher, student).

    The default, logits only, is soft-label distillation for a binary head:
    alpha*BCE(y,s) + (1-alpha)*T^2*BCE(sig(t/T), sig(s/T)).

    `alpha` and `temperature` may be lists of numbers, and `methods` a list of method lists (each
    one candidate's sum): the build distils one student per combination (`candidates`, at most
    MAX_CANDIDATES) and ships the best on validation, the student trained alone among them (see
    `edgerec.sequence.choose_student`), since no fixed setting helps on every dataset. A value
    given once is one candidate, as before.

    The supervisor is the teacher, or the mean of `ensemble` teachers' logits; with
    `assistants` each model is distilled from the one before it, and the student (and its
    compression fine-tuning) from the last assistant.
    """

    alpha: float | tuple[float, ...] = 0.5
    temperature: float | tuple[float, ...] = 2.0
    methods: tuple[DistillMethod, ...] | tuple[tuple[DistillMethod, ...], ...] = (DistillMethod("logits"),)
    # teachers trained (from different initial weights); the student learns the mean of their logits
    ensemble: int = 1
    # teacher-assistant chain (Mirzadeh et al., AAAI 2020): teacher -> assistants[0] -> ... -> student
    assistants: tuple[ModelConfig, ...] = ()
    compare: CompareConfig | None = None
    # the student's item tables start from the teacher's text-informed item representations, projected
    # to the student's width ("pca"), or from random values ("none"): see edgerec/distill/transfer.py.
    # The ranking students only (and assistants): the two-tower retrieval student and the arms of
    # `edgerec distill --compare` start from random values.
    weight_transfer: str = "none"

    def __post_init__(self) -> None:
        _check(self.weight_transfer in WEIGHT_TRANSFERS, "weight_transfer", f"one of {list(WEIGHT_TRANSFERS)}",
               self.weight_transfer)
        for where, value in _options("alpha", self.alpha):
            _check(0.0 <= value <= 1.0, where, "a value in [0, 1]", value)
        for where, value in _options("temperature", self.temperature):
            _check(value > 0, where, "> 0", value)
        sets = self.method_lists()
        nested = sets is self.methods
        for index, methods in enumerate(sets):
            _check(len(methods) >= 1, f"methods[{index}]" if nested else "methods", "at least one method", list(methods))
        resolved = [sorted(repr((m.name, m.weight, m.params())) for m in methods) for methods in sets]
        _check(all(resolved.count(r) == 1 for r in resolved), "methods", "each method list once",
               [[m.label() for m in methods] for methods in sets])
        _check(1 <= self.ensemble <= 8, "ensemble", "a number of teachers in [1, 8]", self.ensemble)
        shape = (len(_values(self.alpha)), len(_values(self.temperature)), len(sets))
        count = shape[0] * shape[1] * shape[2]
        if count > MAX_CANDIDATES:
            raise RecipeError(f"candidates: expected at most {MAX_CANDIDATES} (alpha x temperature x method lists, one "
                              f"student each). Received: {' x '.join(map(str, shape))} = {count}")
        for key, what in (("assistants", "a chain of assistants is distilled"), ("compare", "the ablation compares methods")):
            if getattr(self, key) and count > 1:
                raise RecipeError(f"{key}: {what} at one alpha, temperature and method list; expected one candidate. "
                                  f"Received: {count} candidates")

    def method_lists(self) -> tuple[tuple[DistillMethod, ...], ...]:
        """Each candidate's methods (summed into one loss): the one list, or each list of a list of lists."""
        nested = bool(self.methods) and isinstance(self.methods[0], tuple)
        return self.methods if nested else (self.methods,)

    def candidates(self) -> tuple[DistillConfig, ...]:
        """Every (alpha, temperature, method list) combination as a DistillConfig of one candidate, alpha
        varying slowest; a section that gives one value each returns itself, so it builds as before."""
        return tuple(dataclasses.replace(self, alpha=alpha, temperature=temperature, methods=methods)
                     for alpha in _values(self.alpha) for temperature in _values(self.temperature)
                     for methods in self.method_lists())

    def single(self, purpose: str) -> DistillConfig:
        """The one candidate, for `purpose` (code that distils at one setting); a RecipeError when there are several."""
        candidates = self.candidates()
        if len(candidates) > 1:
            raise RecipeError(f"distill: {purpose} takes one alpha, temperature and method list. "
                              f"Received: {len(candidates)} candidates")
        return candidates[0]

    def label(self) -> str:
        """'alpha 0.5, T 2, logits+ranking': one candidate (see `candidates`), as the log and the report name it."""
        return f"alpha {self.alpha:g}, T {self.temperature:g}, {'+'.join(m.label() for m in self.methods)}"

    def settings(self) -> dict:
        """One candidate's alpha, temperature and methods as plain values: a `distill:` section to paste."""
        plain = _to_plain(dataclasses.asdict(self))
        return {key: plain[key] for key in ("alpha", "temperature", "methods")}


def _values(value: Any) -> tuple:
    """A number or a tuple of numbers, as a tuple."""
    return value if isinstance(value, tuple) else (value,)


def _options(key: str, value: Any) -> list[tuple[str, Any]]:
    """(where, value) per value of a number-or-list setting; a list must be non-empty, each value once."""
    if not isinstance(value, tuple):
        return [(key, value)]
    _check(len(value) >= 1, key, "a number or a non-empty list of numbers", list(value))
    _check(len(set(value)) == len(value), key, "each value once", list(value))
    return [(f"{key}[{index}]", item) for index, item in enumerate(value)]


@dataclass(frozen=True)
class StepConfig:
    """One compression step: a registered name and its parameters (validated by the step)."""

    name: str
    params: dict = field(default_factory=dict)
    finetune_epochs: int = 1
    # the fine-tune's learning rate as a fraction of the student's: the student starts at its
    # best validation epoch, and a full-rate epoch on a small log walks it past that into overfitting
    finetune_lr_scale: float = 1.0
    # the build drops the step (and goes on from the model before it) when it lowers the validation
    # metric by more than this fraction of its value before the step; None keeps it whatever it costs.
    # An accuracy budget per step, as accuracy-aware compression tools give: a step that removes
    # 0.6 % of a model's parameters should not cost it 0.9 % of its AUC (see stages.compress)
    max_validation_drop: float | None = None

    def __post_init__(self) -> None:
        _check(self.finetune_epochs >= 0, "finetune_epochs", ">= 0", self.finetune_epochs)
        _check(0 < self.finetune_lr_scale <= 1, "finetune_lr_scale", "a fraction in (0, 1]", self.finetune_lr_scale)
        drop = self.max_validation_drop
        _check(drop is None or (isinstance(drop, (int, float)) and not isinstance(drop, bool) and 0 <= drop <= 1),
               "max_validation_drop", "a fraction in [0, 1] of the validation metric", drop)


# Converter modes of the compressed student (converters.tflite.MODES, which must contain these).
EXPORT_MODES = ("int8", "fp16", "dynamic", "int16x8", "fp32")


@dataclass(frozen=True)
class ExportConfig:
    """How the compressed student becomes artifacts.

    modes: one `student_<mode>.tflite` each, from the compressed student; int8 (the artifact an app
    ships) is always among them. A step that fake-quantizes for int8 (QAT) is left out of the model
    the other modes convert, since only the int8 converter can use its ranges.
    keep_float: student layers whose ops stay float32 in the int8 artifact (selective quantization),
    and which QAT does not annotate. Names are checked against the student before any training.
    """

    modes: tuple[str, ...] = ("int8",)
    keep_float: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for mode in self.modes:
            _check(mode in EXPORT_MODES, "modes", f"a list of modes among {list(EXPORT_MODES)}", mode)
        _check("int8" in self.modes, "modes", "a list that includes 'int8' (student_int8.tflite ships)", list(self.modes))
        for key in ("modes", "keep_float"):
            values = getattr(self, key)
            _check(len(set(values)) == len(values), key, "each name once", list(values))


def check_layer_names(key: str, names: tuple[str, ...], layers: list[str], model: str) -> None:
    """Raises RecipeError for a name in `names` that is not in `layers`, with a "did you mean"."""
    for name in names:
        if name not in layers:
            raise RecipeError(
                f"{key}: '{name}' is not a layer of the {model}.{suggest(name, layers)} Layers: {', '.join(layers)}"
            )


@dataclass(frozen=True)
class RetrievalConfig:
    """The retrieval student (interaction data only; a CTR build has none): a two-tower model
    (zoo `two_tower`: user and item towers of `hidden` ReLU layers to `embedding_dim`-d vectors)
    trained on the task's rows under the supervising teacher, with the student's training settings,
    and shipped as `retrieval_int8.tflite` whose `recommend` returns the `top_k` best items.

    `alpha` and `temperature` are its distillation setting (logits distillation; alpha 1: labels alone).
    """

    enabled: bool = True
    embedding_dim: int = 32
    hidden: tuple[int, ...] = (64,)
    top_k: int = 100
    alpha: float = 0.5
    temperature: float = 2.0

    def __post_init__(self) -> None:
        _check(self.embedding_dim >= 1, "embedding_dim", ">= 1", self.embedding_dim)
        _check(all(h >= 1 for h in self.hidden), "hidden", "positive layer widths", self.hidden)
        _check(self.top_k >= 1, "top_k", ">= 1", self.top_k)
        _check(0.0 <= self.alpha <= 1.0, "alpha", "a value in [0, 1]", self.alpha)
        _check(self.temperature > 0, "temperature", "> 0", self.temperature)

    def model(self) -> ModelConfig:
        """The two-tower model this section describes."""
        return ModelConfig(embedding_dim=self.embedding_dim, hidden=self.hidden, architecture="two_tower")

    def distill(self) -> DistillConfig:
        """Its distillation setting: logits distillation at `alpha` and `temperature`."""
        return DistillConfig(alpha=self.alpha, temperature=self.temperature)


@dataclass(frozen=True)
class BenchConfig:
    runs: int = 200
    warmup: int = 20
    min_seconds: float = 1.0
    threads: tuple[int, ...] = (1,)
    batch: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        _check(self.runs >= 1, "runs", ">= 1", self.runs)
        _check(self.warmup >= 0, "warmup", ">= 0", self.warmup)
        _check(all(t >= 1 for t in self.threads), "threads", "positive thread counts", self.threads)
        _check(all(b >= 1 for b in self.batch), "batch", "positive batch sizes", self.batch)


@dataclass(frozen=True)
class Recipe:
    name: str
    seed: int = 0
    data: DataConfig = DataConfig()
    teacher: ModelConfig = ModelConfig(embedding_dim=64, hidden=(256, 128, 64), cross_layers=1)
    student: ModelConfig = ModelConfig(embedding_dim=16, hidden=(32, 16))
    teacher_training: TrainConfig = TrainConfig()
    student_training: TrainConfig = TrainConfig()
    distill: DistillConfig = DistillConfig()
    compress: tuple[StepConfig, ...] = ()
    representative_samples: int = 1000
    export: ExportConfig = ExportConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    bench: BenchConfig = BenchConfig()

    def __post_init__(self) -> None:
        _check(not self.student.item_text, "student.item_text",
               "false (the student reads ids and categorical features only, so it stays small and full-int8; "
               "the text reaches it through distillation and distill.weight_transfer)", self.student.item_text)

    def to_dict(self) -> dict:
        return _to_plain(dataclasses.asdict(self))


def _to_plain(value: Any) -> Any:
    """Lists and dicts only; None (an optional parameter left out) is omitted."""
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _build(cls: type, raw: Any, where: str) -> Any:
    """Builds dataclass `cls` from a mapping, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise RecipeError(f"{where}: expected a mapping. Received: {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            at = f"{where}: " if where else ""
            raise RecipeError(f"{at}unknown key '{key}'.{suggest(key, names)} Valid keys: {', '.join(names)}")
        kwargs[key] = _coerce(hints[key], value, f"{where}.{key}" if where else key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise RecipeError(f"{where or 'recipe'}: {exc}") from None
    except RecipeError as exc:
        raise RecipeError(f"{where}.{exc}" if where else str(exc)) from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        (item_hint, _) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{where}: expected a list. Received: {value!r}")
        return tuple(_coerce(item_hint, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif hint is dict or origin is dict:
        ok = isinstance(value, dict)
    elif isinstance(hint, types.UnionType):  # `X | None`: absent (None) or an X; `X | tuple[X, ...]`: by shape
        arms = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None and len(arms) < len(typing.get_args(hint)):
            return None
        if len(arms) == 1:
            return _coerce(arms[0], value, where)
        shaped = [arm for arm in arms if _nesting(arm) == _value_nesting(value)]
        if len(shaped) == 1:  # its own message names what inside the value is wrong
            return _coerce(shaped[0], value, where)
        for arm in shaped:  # `int | str`: the first that fits
            try:
                return _coerce(arm, value, where)
            except RecipeError:
                continue
        raise RecipeError(f"{where}: expected {' or '.join(map(_describe, shaped or arms))}. Received: {value!r}")
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise RecipeError(f"{where}: expected {getattr(hint, '__name__', hint)}. Received: {value!r}")
    return value


def _nesting(hint: Any) -> int:
    """How many lists deep a hint is: 0 for float, 1 for tuple[float, ...], 2 for a tuple of tuples."""
    return 1 + _nesting(typing.get_args(hint)[0]) if typing.get_origin(hint) is tuple else 0


def _value_nesting(value: Any) -> int:
    """How many lists deep a YAML value is; -1 for a list mixing depths (no hint matches it)."""
    if not isinstance(value, (list, tuple)):
        return 0
    inner = {_value_nesting(item) for item in value}
    return -1 if len(inner) > 1 or -1 in inner else 1 + (inner.pop() if inner else 0)


def _describe(hint: Any, plural: bool = False) -> str:
    """'a number', 'a list of numbers', 'a list of lists of mappings': a hint as an error message names it."""
    if typing.get_origin(hint) is tuple:
        return ("lists of " if plural else "a list of ") + _describe(typing.get_args(hint)[0], plural=True)
    nouns = {float: "number", int: "integer", str: "string"}
    noun = "mapping" if dataclasses.is_dataclass(hint) else nouns.get(hint, hint.__name__)
    return f"{noun}s" if plural else f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


BASE_KEY = "extends"  # a recipe file's base: a built-in name or a path; user files extend DEFAULT_BASE
DEFAULT_BASE = "default"


def load(name_or_path: str, overrides: tuple[str, ...] = ()) -> Recipe:
    """Loads a built-in recipe by name or a YAML file by path, then applies `--set KEY=VALUE` overrides.

    A built-in recipe is complete. A recipe file overrides its base (`extends:`, the default
    recipe when absent) key by key: mappings merge, anything else (a number, a list such as
    `compress`) replaces the base's value, so `teacher: {embedding_dim: 32}` changes one key.
    """
    raw, source = _merged(name_or_path, ())
    for override in overrides:
        _apply(raw, override)
    try:
        return _build(Recipe, raw, "")
    except RecipeError as exc:
        raise RecipeError(f"{source}: {exc}" if source else str(exc)) from None


def _merged(name_or_path: str, seen: tuple[Path, ...], relative_to: Path | None = None) -> tuple[dict, Path]:
    """The raw mapping of a recipe with its bases merged in, and the file it came from."""
    source, builtin = _locate(name_or_path, relative_to)
    if source in seen:
        chain = " -> ".join(str(p) for p in (*seen, source))
        raise RecipeError(f"{seen[-1]}: {BASE_KEY}: recipes extend each other in a loop: {chain}")
    raw = _read(source)
    base = raw.pop(BASE_KEY, None if builtin else DEFAULT_BASE)
    if base is None:
        raw.setdefault("name", source.stem)
        return raw, source
    if not isinstance(base, str):
        raise RecipeError(f"{source}: {BASE_KEY}: expected a built-in recipe name or a path. Received: {base!r}")
    merged, _ = _merged(base, (*seen, source), source.parent)
    merged = _merge(merged, raw)
    merged["name"] = raw.get("name", source.stem)
    return merged, source


def _locate(name_or_path: str, relative_to: Path | None) -> tuple[Path, bool]:
    """The file a recipe name or path means, and whether it is a built-in one."""
    path = Path(name_or_path)
    if relative_to is not None and not path.is_absolute() and path.suffix in (".yaml", ".yml"):
        path = relative_to / path
    if path.suffix in (".yaml", ".yml") or path.is_file():  # a folder named like a built-in is not a recipe
        if not path.is_file():
            raise RecipeError(f"recipe file not found: {path}")
        return path, False
    source = BUILTIN_DIR / f"{name_or_path}.yaml"
    if not source.is_file():
        valid = builtin_names()
        raise RecipeError(
            f"unknown recipe '{name_or_path}'.{suggest(name_or_path, valid)} Built-in recipes: {', '.join(valid)}; "
            "or give a path to a .yaml file."
        )
    return source, True


def _read(source: Path) -> dict:
    try:
        raw = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:  # one line: where, and what the parser expected
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if raw is None:  # an empty file: the base unchanged
        return {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{source}: expected a mapping at the top level")
    return raw


def _merge(base: dict, override: dict) -> dict:
    """`override` on top of `base`: mappings merge key by key, other values replace."""
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _apply(raw: dict, override: str) -> None:
    """One `--set KEY=VALUE`: a dotted key (list entries by index, e.g. compress.0.finetune_epochs), a YAML value."""
    key, sep, text = override.partition("=")
    if not sep or not key:
        raise RecipeError(f"--set {override}: expected KEY=VALUE, e.g. teacher.embedding_dim=32")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise RecipeError(f"--set {override}: the value is not valid YAML") from None
    if key == BASE_KEY:
        raise RecipeError(f"--set {override}: the base is read with the recipe file; put `{BASE_KEY}: ...` in it, "
                          f"or pass the base as --recipe")
    *parents, last = key.split(".")
    node: Any = raw
    for depth, part in enumerate([*parents, last]):
        where = ".".join([*parents, last][: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError(f"--set {override}: {where}: expected a list index below {len(node)}")
            part = int(part)
        elif not isinstance(node, dict):
            raise RecipeError(f"--set {override}: {where}: {'.'.join(key.split('.')[:depth])} is not a mapping or a list")
        if depth == len(parents):
            node[part] = value
        else:
            if isinstance(node, dict) and part not in node:
                node[part] = {}  # a section the recipe left to its defaults
            node = node[part]
