"""Criteo-like click logs: 13 integer and 26 categorical fields and a click label, generated in
the raw form of a Criteo TSV and encoded exactly as `edgerec.data.criteo.load` encodes one.

Fields. Each field's values follow a power law over a vocabulary, P(value k) proportional to
the mass of x^-s on [k + 1, k + 2) for x in [1, V + 1): integers are the counts k themselves,
categoricals 8-hex-digit hashes of k. V is the field's cardinality over the whole Kaggle
Criteo training log (45.8M rows, the embedding-table sizes DLRM and others publish) and the
exponent s is fitted so that 8,000 rows show the number of distinct values of the
`criteo-sample-like` profile (`shared/data/profiles.json`, 8,000 consecutive rows). Where
even s = 3 would show more values than the profile (the few-valued I10, C6, C14, C22, C23),
the field keeps the profile's values with s = 1. So cardinality grows with rows the way sampling from the real
distribution makes it grow (Heaps-like, C3: 4.5 thousand values in 8,000 rows, about 290
thousand expected in a million), and never beyond the full log's. Missing values have the
profile's rate; fields with the same rate go missing on the same rows, as the profile's
identical rates suggest the real log does (C19, C20, C25, C26 at 0.453).

Label. A logistic model on what the models can see: a random weight per value (per
transformed bucket for integers, see `criteo.transform_integers`; missing is a value) on a few
fields, plus two pairwise crosses, each term standardised to a set spread over the rows, and
the intercept set so that the click rate is the profile's 0.216. The spreads give logistic
regression on one-hot features an AUC near the profile's reference 0.71 on the last 10 % of
`criteo8k` (0.67-0.77 over seeds, 800 held-out rows); the crosses are signal it cannot take
up (the true logit scores about 0.80 against about 0.77 for its main effects alone).
Rows are drawn independently, so any order is a time order and the time split holds out a
sample like the rest.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from edgerec.data import criteo
from edgerec.data.schema import LabeledRows
from edgerec.data.synthetic.shape import EMPTY
from edgerec.data.vocab import frequent_codes


@dataclass(frozen=True)
class Field:
    """One raw field's value distribution (see the module docstring) and the profile's numbers for it."""

    vocabulary: int  # values it can take (V)
    exponent: float  # power law over them (s)
    missing: float  # share of rows where it is empty; profile value
    distinct_8k: int  # distinct values in the profile's 8,000 rows, what V and s were fitted to


# Fitted to profiles.json "criteo-sample-like" (see the module docstring); integers first, as in the TSV.
FIELDS: dict[str, Field] = {
    "I1": Field(649, 2.278, 0.452, 68), "I2": Field(9364, 1.414, 0.0, 777),
    "I3": Field(14746, 1.711, 0.203, 285), "I4": Field(490, 2.348, 0.203, 71),
    "I5": Field(476707, 0.974, 0.05, 4453), "I6": Field(11618, 1.372, 0.252, 746),
    "I7": Field(4142, 1.824, 0.05, 228), "I8": Field(1373, 2.506, 0.001, 62),
    "I9": Field(7275, 1.394, 0.05, 779), "I10": Field(5, 1.0, 0.452, 5),
    "I11": Field(169, 2.603, 0.05, 51), "I12": Field(407, 2.799, 0.777, 24),
    "I13": Field(1376, 2.058, 0.203, 121),
    "C1": Field(1460, 1.985, 0.0, 157), "C2": Field(583, 1.483, 0.0, 370),
    "C3": Field(10131227, 1.03, 0.033, 4524), "C4": Field(2202608, 1.095, 0.033, 3369),
    "C5": Field(305, 2.606, 0.0, 53), "C6": Field(7, 1.0, 0.131, 7),
    "C7": Field(12517, 0.976, 0.0, 2817), "C8": Field(633, 2.322, 0.0, 82),
    "C9": Field(3, 1.0, 0.0, 3), "C10": Field(93145, 1.118, 0.0, 2584),
    "C11": Field(5683, 1.057, 0.0, 1904), "C12": Field(8351593, 1.041, 0.033, 4337),
    "C13": Field(3194, 1.047, 0.0, 1591), "C14": Field(22, 1.0, 0.0, 22),
    "C15": Field(14992, 1.155, 0.0, 1833), "C16": Field(5461306, 1.066, 0.033, 3905),
    "C17": Field(9, 1.0, 0.0, 9), "C18": Field(5652, 1.289, 0.0, 1055),
    "C19": Field(2173, 1.385, 0.453, 480), "C20": Field(3, 1.0, 0.453, 3),
    "C21": Field(7046547, 1.052, 0.033, 4140), "C22": Field(7, 1.0, 0.817, 7),
    "C23": Field(12, 1.0, 0.0, 12), "C24": Field(286181, 1.185, 0.033, 2152),
    "C25": Field(105, 2.678, 0.453, 37), "C26": Field(142572, 1.123, 0.453, 1635),
}

HEX_DIGITS = np.array(list("0123456789abcdef"), dtype="<U1")

# The click model: each field's term, and each cross's, has this standard deviation over the rows.
MAIN_EFFECTS = {"I1": 0.5, "I3": 0.35, "I7": 0.45, "I11": 0.35, "C6": 0.45, "C8": 0.35, "C14": 0.45, "C17": 0.4,
                "C20": 0.3, "C23": 0.4}
CROSSES = {("C6", "C14"): 0.5, ("C17", "C23"): 0.5}


@dataclass(frozen=True)
class CtrSize:
    """One Criteo-like preset: how many rows, at which click rate, encoded with which min count."""

    rows: int
    click_rate: float = 0.216  # profiles.json "criteo-sample-like"
    min_count: int = criteo.DEFAULT_MIN_COUNT


@dataclass(frozen=True)
class ClickLog:
    """The raw log, as a Criteo TSV holds it: `values[name]` per row (int64, EMPTY if empty),
    `labels` 0/1 float32; `text` renders a field as the TSV would print it."""

    values: dict[str, np.ndarray]
    labels: np.ndarray

    def text(self, name: str) -> np.ndarray:
        values = self.values[name]
        rendered = values.astype(str) if name in criteo.INTEGER_FEATURES else _hashes(name, values)
        return np.where(values == EMPTY, "", rendered)


def generate(spec: CtrSize, name: str, seed: int) -> LabeledRows:
    """The encoded rows of preset `spec` (called `name` in the data's source)."""
    return encode(sample_log(spec, seed), spec.min_count, f"synthetic:{name}:seed={seed}")


def sample_log(spec: CtrSize, seed: int) -> ClickLog:
    """The raw log of preset `spec`; see the module docstring for the model."""
    rng = np.random.default_rng(seed)
    values = {name: _power_law(rng, field, spec.rows) for name, field in FIELDS.items()}
    empty = {rate: rng.random(spec.rows) < rate for rate in sorted({f.missing for f in FIELDS.values()}) if rate > 0}
    for name, field in FIELDS.items():
        if field.missing > 0:
            values[name][empty[field.missing]] = EMPTY
    seen = {name: _visible(name, values[name]) for name in MAIN_EFFECTS.keys() | {n for c in CROSSES for n in c}}
    logit = np.zeros(spec.rows)
    for name, scale in MAIN_EFFECTS.items():
        logit += _standardised(rng.normal(size=seen[name].max() + 1)[seen[name]], scale)
    for (a, b), scale in CROSSES.items():
        logit += _standardised(rng.normal(size=(seen[a].max() + 1, seen[b].max() + 1))[seen[a], seen[b]], scale)
    logit += _intercept(logit, spec.click_rate)
    labels = (rng.random(spec.rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return ClickLog(values=values, labels=labels)


def encode(log: ClickLog, min_count: int, source: str) -> LabeledRows:
    """Model ids as `criteo.load` makes them from the TSV: integers bucketed by
    `criteo.transform_integers`, vocabularies sorted by raw text, values seen fewer than
    `min_count` times mapped to the OOV id 0."""
    columns, vocabularies = {}, {}
    for name in FIELDS:
        raw, inverse, counts = np.unique(log.values[name], return_inverse=True, return_counts=True)
        text, merged = np.unique(_tokens(name, raw), return_inverse=True)
        new_code, vocabularies[name] = frequent_codes(np.bincount(merged, weights=counts).astype(np.int64),
                                                      text.tolist(), min_count)
        columns[name] = new_code[merged[inverse]]
    return LabeledRows(columns=columns, labels=log.labels, vocabularies=vocabularies, source=source,
                       label=criteo.LABEL_DEFINITION)


def _tokens(name: str, raw: np.ndarray) -> np.ndarray:
    """Raw values of field `name` as the text `criteo.load` gives them a vocabulary entry by."""
    if name in criteo.INTEGER_FEATURES:
        tokens = criteo.transform_integers(np.where(raw == EMPTY, np.nan, raw.astype(np.float64)))
    else:
        tokens = np.where(raw == EMPTY, criteo.MISSING, _hashes(name, raw))
    return tokens.astype(str)


def _power_law(rng: np.random.Generator, field: Field, rows: int) -> np.ndarray:
    """Values k in [0, V) with P(k) the mass of x^-s on [k + 1, k + 2), by inverting its CDF."""
    u = rng.random(rows)
    span = np.log(field.vocabulary + 1.0)
    rise = 1.0 - field.exponent
    x = np.exp(u * span) if abs(rise) < 1e-9 else np.exp(np.log1p(u * np.expm1(rise * span)) / rise)
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, field.vocabulary - 1)


def _visible(name: str, values: np.ndarray) -> np.ndarray:
    """What a model can see of a raw field, as an index per row: rows whose values have the
    same text after `criteo.transform_integers` (integers) or hashing share one; missing too."""
    raw, inverse = np.unique(values, return_inverse=True)
    _, token = np.unique(_tokens(name, raw), return_inverse=True)
    return token[inverse]


def _standardised(term: np.ndarray, scale: float) -> np.ndarray:
    """A logit term with standard deviation `scale` over the rows, so that the signal's strength
    does not depend on which values the seed happened to weight heavily."""
    return (term - term.mean()) * (scale / term.std())


def _intercept(logit: np.ndarray, click_rate: float) -> float:
    """The shift of `logit` whose mean sigmoid is `click_rate`, by bisection."""
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(logit + middle)))) < click_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _hashes(name: str, values: np.ndarray) -> np.ndarray:
    """Value k of categorical `name` as 8 hex digits, like Criteo's 32-bit hashes: an odd
    multiplier makes k -> hash one-to-one, the field's CRC-32 gives each field its own."""
    salt = np.uint64(zlib.crc32(name.encode()))
    hashed = (values.astype(np.uint64) * np.uint64(2654435761) + salt) % np.uint64(2**32)
    nibbles = (hashed[:, None] >> np.arange(28, -1, -4, dtype=np.uint64)) & np.uint64(15)
    return np.ascontiguousarray(HEX_DIGITS[nibbles]).view("<U8").reshape(-1)

