"""Synthetic presets against the public datasets they imitate (shared/data/profiles.json).

Each preset's measured shape is checked against the target kept in its own table (so the test
runs anywhere), and the table against profiles.json where a copy of `shared/` sits beside the
repository (`<clone>/../shared/data/profiles.json`, as in CI and in the workspace).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgerec.data import criteo, synthetic
from edgerec.data.synthetic import ctr
from edgerec.data.synthetic.shape import EMPTY, ClickLogShape, RankingShape
from edgerec.data.task import CtrTask, RankingTask, make_task
from edgerec.recipe import DataConfig

PROFILES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "profiles.json"
PROFILE_OF = {"ml100k": "movielens-100k-like", "mllatest": "movielens-latest-small-like",
              "lastfm": "lastfm-2k-like", "criteo8k": "criteo-sample-like"}
RANKING = [name for name, spec in synthetic.SIZES.items() if getattr(spec, "target", None) is not None]

SIZE_TOLERANCE = 0.10  # users, items, interactions: relative
QUANTILE_TOLERANCE = 0.25  # per-user / per-item median and p90: relative, or 1 interaction if larger
SHARE_TOLERANCE = 0.05  # Gini, share of items with <= 5 interactions: absolute
CLICK_RATE_TOLERANCE = 0.015
MISSING_TOLERANCE = 0.02


@functools.lru_cache(maxsize=None)
def _generated(name: str):
    return synthetic.generate(name, 0)


@functools.lru_cache(maxsize=None)
def _log(name: str) -> ctr.ClickLog:
    return ctr.sample_log(synthetic.SIZES[name], 0)


def _profiles() -> dict[str, dict]:
    if not PROFILES.is_file():
        pytest.skip(f"{PROFILES} is absent (no copy of shared/ beside the repository); the presets' own targets "
                    "are still checked by the other tests")
    return {entry["name"]: entry for entry in json.loads(PROFILES.read_text())}


def _close(measured: float, target: float, relative: float, floor: float = 0.0) -> bool:
    return abs(measured - target) <= max(relative * target, floor)


def test_every_profile_has_a_preset():
    assert set(RANKING) == {"ml100k", "mllatest", "lastfm"}
    assert set(PROFILE_OF) <= set(synthetic.SIZES)


@pytest.mark.parametrize("name", RANKING)
def test_ranking_target_is_the_profile(name):
    assert synthetic.SIZES[name].target == RankingShape.from_profile(_profiles()[PROFILE_OF[name]])


def test_click_log_fields_are_the_profile():
    profile = ClickLogShape.from_profile(_profiles()[PROFILE_OF["criteo8k"]])
    assert profile.rows == synthetic.SIZES["criteo8k"].rows
    assert profile.click_rate == synthetic.SIZES["criteo8k"].click_rate
    assert profile.distinct == {name: field.distinct_8k for name, field in ctr.FIELDS.items()}
    assert profile.missing == {name: field.missing for name, field in ctr.FIELDS.items()}


@pytest.mark.parametrize("name", RANKING)
def test_ranking_preset_matches_its_target(name):
    # setup: a preset that drops single-interaction users (lastfm) is compared with the profile
    # after adding back the profile's own count of them
    spec = synthetic.SIZES[name]
    target = spec.target
    data = _generated(name)
    per_user = np.bincount(data.user, minlength=data.num_users)
    dropped = target.users_with_fewer_than_2 if spec.min_kept == 2 else 0
    # execute
    shape = RankingShape.of_counts(np.r_[per_user, np.ones(dropped, np.int64)],
                                   np.bincount(data.item, minlength=data.num_items))
    # assert
    assert per_user.min() >= spec.min_kept
    for key in ("users", "items", "interactions"):
        assert _close(getattr(shape, key), getattr(target, key), SIZE_TOLERANCE), (key, shape, target)
    for group in ("per_user", "per_item"):
        for q in ("median", "p90"):
            measured, wanted = getattr(getattr(shape, group), q), getattr(getattr(target, group), q)
            assert _close(measured, wanted, QUANTILE_TOLERANCE, floor=1.0), (group, q, measured, wanted)
    for key in ("item_popularity_gini", "share_of_items_with_at_most_5_interactions"):
        assert abs(getattr(shape, key) - getattr(target, key)) <= SHARE_TOLERANCE, (key, shape, target)


@pytest.mark.parametrize("name, user_features, item_features", [
    ("ml100k", ["user_age", "user_region"], ["item_category", "item_price"]),
    ("mllatest", [], ["item_category", "item_price"]),
    ("lastfm", [], []),
])
def test_ranking_presets_carry_the_real_sets_side_features(name, user_features, item_features):
    data = _generated(name)
    assert list(data.user_features) == user_features
    assert list(data.item_features) == item_features
    task = make_task(data, DataConfig(synthetic_size=name), seed=0)
    assert isinstance(task, RankingTask)
    assert task.input_names == ["user_id", "item_id", *user_features, *item_features]


def test_smoke_data_is_unchanged():
    # the bundles built from `smoke` (and `default`, from the same code path) must stay identical
    data = synthetic.generate("smoke", 0)
    digest = hashlib.sha256()
    for array in (data.user, data.item, data.timestamp, *data.user_features.values(), *data.item_features.values()):
        digest.update(array.tobytes())
    assert digest.hexdigest() == "fedec4195c61f62cae16857d8f28bad64fa7ed5c0f0f0aa1c936685115d004a3"


def test_click_fields_follow_the_criteo_layout():
    assert tuple(ctr.FIELDS) == criteo.FIELDS[1:]


def test_criteo8k_matches_the_profile():
    # execute
    shape = ClickLogShape.of(_log("criteo8k").values, _log("criteo8k").labels)
    # assert
    assert shape.rows == 8000
    assert abs(shape.click_rate - 0.216) <= CLICK_RATE_TOLERANCE
    for name, field in ctr.FIELDS.items():
        # a distinct count of a few dozen swings by about its square root between samples
        floor = 3 * np.sqrt(field.distinct_8k)
        assert _close(shape.distinct[name], field.distinct_8k, SIZE_TOLERANCE, floor), (name, shape.distinct[name])
        assert abs(shape.missing[name] - field.missing) <= MISSING_TOLERANCE, (name, shape.missing[name])


def test_criteo1m_cardinality_grows_with_rows_up_to_the_full_logs():
    # execute
    shape = ClickLogShape.of(_log("criteo1m").values, _log("criteo1m").labels)
    # assert: same rates; every field at least as varied as in 8,000 rows, never beyond its vocabulary
    assert shape.rows == 1_000_000
    assert abs(shape.click_rate - 0.216) <= 0.005
    for name, field in ctr.FIELDS.items():
        assert abs(shape.missing[name] - field.missing) <= 0.005, name
        assert field.distinct_8k <= shape.distinct[name] <= field.vocabulary, (name, shape.distinct[name])
    assert shape.distinct["C3"] > 30 * ctr.FIELDS["C3"].distinct_8k  # the hashed ids keep coming


def test_click_log_encodes_as_criteo_load_reads_its_tsv(tmp_path):
    # setup: the raw log written as the Criteo TSV it stands for
    log = _log("criteo8k")
    columns = [log.labels.astype(int).astype(str), *(log.text(name) for name in ctr.FIELDS)]
    path = tmp_path / "day.tsv"
    path.write_text("".join("\t".join(row) + "\n" for row in zip(*columns)))
    # execute
    loaded = criteo.load(path)
    generated = synthetic.generate("criteo8k", 0)
    # assert
    assert generated.vocabularies == loaded.vocabularies
    assert list(generated.columns) == list(loaded.columns)
    for name, column in loaded.columns.items():
        np.testing.assert_array_equal(generated.columns[name], column)
        assert generated.columns[name].dtype == column.dtype
    np.testing.assert_array_equal(generated.labels, loaded.labels)
    assert (log.values["C19"] == EMPTY).tolist() == (log.values["C26"] == EMPTY).tolist()  # equal rates, same rows


def test_criteo8k_is_a_ctr_task_that_logistic_regression_learns():
    # setup: logistic regression on one-hot model ids, the profile's reference protocol (AUC 0.71)
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import OneHotEncoder

    task = make_task(synthetic.generate("criteo8k", 0), DataConfig(synthetic_size="criteo8k", split="time"), seed=0)
    assert isinstance(task, CtrTask)
    train, labels = task.rows(task.train_idx), task.data.labels[task.train_idx]
    held_out, held_out_labels = task.pointwise_eval()
    x_train = np.stack(list(train.values()), axis=1)
    x_held_out = np.stack(list(held_out.values()), axis=1)
    # execute
    encoder = OneHotEncoder(handle_unknown="ignore").fit(x_train)
    model = LogisticRegression(max_iter=1000).fit(encoder.transform(x_train), labels)
    auc = roc_auc_score(held_out_labels, model.predict_proba(encoder.transform(x_held_out))[:, 1])
    # assert
    assert 0.62 <= auc <= 0.80, auc
