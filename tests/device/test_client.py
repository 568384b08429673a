"""device_bench.client on an export of the session's smoke bundle: raw ids in, the bench's numbers out.

The reproduction of the bench runs in a subprocess where TensorFlow and the training side cannot
be imported (.ci/check_client.py, the script CI runs in its edgerec[device] virtualenv); the
in-process tests pin the client's rules (OOV, exclusion, K, errors).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device_bench import bundle, export, metrics
from device_bench.card import ITEM_FEATURES, read_vocabulary
from device_bench.client import ClientError, Recommender
from tests.device.test_without_tensorflow import DEVICE_BLOCKED
from tests.utils import blocked_import_env

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "check_client.py"


@pytest.fixture(scope="module")
def exported(smoke_bundle, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("client") / "app"
    export.export(smoke_bundle, "linux", out)
    return out


@pytest.fixture(scope="module")
def client(exported) -> Recommender:
    return Recommender(exported)


def _retrieval_row(bundle_folder: Path) -> dict:
    rows = json.loads((bundle_folder / bundle.BENCH).read_text())["rows"]
    return next(r for r in rows if r["artifact"] == bundle.artifact_file(bundle.RETRIEVAL))


def test_client_reproduces_the_bench_metrics_from_raw_ids_without_tensorflow(smoke_bundle, exported, tmp_path):
    # setup
    env, log = blocked_import_env(tmp_path, DEVICE_BLOCKED)
    out = tmp_path / "client.json"

    # execute
    proc = subprocess.run([sys.executable, str(SCRIPT), str(smoke_bundle), str(exported), "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True)

    # assert: it ran without TensorFlow, and its numbers are the bench's
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), log.read_text()
    result = json.loads(out.read_text())
    bench = _retrieval_row(smoke_bundle)["metrics"]
    for key in ("full_recall@10", "full_ndcg@10", *metrics.retrieval_keys(metrics.CATALOGUE)):
        assert result["metrics"][key] == pytest.approx(bench[key], abs=1e-6)
    assert 0 < bench["full_recall@10"] < 1
    assert result["recommend_compared"] > 0 and result["ranked_rows"] > 0
    assert result["recommend_compared"] + result["recommend_refused"] == result["users"]


def test_recommend_is_the_top_k_of_score(client):
    # setup
    items = client.items
    users = read_vocabulary(client.folder / "vocab" / "user_id.txt")[1:6]

    for user in users:
        # execute
        scores = np.asarray(client.score(user, {"user_age": "age_1"}, items))
        got = client.recommend(user, {"user_age": "age_1"}, k=5)

        # assert: best first, ties to the lower index, the OOV item never
        order = sorted(range(1, len(items)), key=lambda i: (-scores[i], i))[:5]
        assert [raw for raw, _ in got] == [items[i] for i in order]
        assert [s for _, s in got] == pytest.approx(scores[order].tolist(), abs=1e-6)


def test_excluded_items_are_dropped_and_the_next_ones_move_up(client):
    first = client.recommend("7", None, k=4)

    later = client.recommend("7", None, k=3, exclude=[first[0][0], "not-an-item"])

    assert later == first[1:]


def test_k_beyond_what_is_left_of_k_says_to_export_a_larger_top_k(client):
    best = client.recommend("7", None, k=client.top_k)

    with pytest.raises(ClientError, match=rf"k={client.top_k} but only {client.top_k - 1} of recommend's "
                                          rf"K={client.top_k} items are left after excluding 1; .*retrieval.top_k"):
        client.recommend("7", None, k=client.top_k, exclude=[best[0][0]])
    with pytest.raises(ClientError, match="retrieval.top_k"):
        client.recommend("7", None, k=client.top_k + 1)
    with pytest.raises(ClientError, match="k must be a positive integer. Received: k=0"):
        client.recommend("7", None, k=0)


def test_unknown_raw_values_and_missing_features_are_the_oov_index(client):
    items = client.items[1:30]
    oov_user = client.items[0]  # line 0 of every vocabulary is the OOV value

    unknown = client.score("no-such-user", {"user_age": "no-such-age"}, items)

    assert unknown == client.score(oov_user, {"user_age": oov_user, "user_region": oov_user}, items)
    assert unknown != client.score("7", None, items)
    assert client.score("7", None, items) == client.score("7", {"user_age": "?", "user_region": "?"}, items)
    assert client.score("7", None, ["no-such-item"]) == client.score("7", None, [client.items[0]])


def test_an_unknown_feature_name_gets_a_did_you_mean(client):
    with pytest.raises(ClientError, match="features: 'user_agee' is not a user feature.* Did you mean 'user_age'?"):
        client.recommend("7", {"user_agee": "age_1"})
    with pytest.raises(ClientError, match="pass the user id as raw_user_id"):
        client.score("7", {"user_id": "7"}, ["1"])


def test_rank_builds_ranker_rows_from_the_item_table(client, exported):
    # setup: the ranker fed by hand with each item's line of the item table
    from device_bench import runtime

    interpreter, _ = runtime.load(exported / "student_int8.tflite")
    runner = interpreter.get_signature_runner()
    table = (exported / ITEM_FEATURES).read_text().splitlines()
    header = table[0].split("\t")
    index = {raw: i for i, raw in enumerate(client.items)}
    vocab = {n: read_vocabulary(exported / "vocab" / f"{n}.txt") for n in ("user_id", "user_age")}
    user = {"user_id": vocab["user_id"].index("7"), "user_age": vocab["user_age"].index("age_2"), "user_region": 0}
    expected = []
    for raw in ("3", "5", "150"):
        row = dict(zip(header, map(int, table[1 + index[raw]].split("\t"))))
        assert row["item_id"] == index[raw]
        feed = {name: np.array([value], np.int32) for name, value in {**row, **user}.items()}
        expected.append(float(runner(**feed)["quant_score"].reshape(-1)[0]))

    # execute
    got = client.rank("7", {"user_age": "age_2"}, ["3", "5", "150"])

    # assert
    assert got == pytest.approx(expected, abs=1e-6)
    assert len(set(expected)) > 1  # the items' features reach the model


def test_a_folder_without_the_model_a_call_needs_says_what_to_export(smoke_bundle, tmp_path):
    export.export(smoke_bundle, "linux", tmp_path / "ranker", [bundle.STUDENT_INT8])
    export.export(smoke_bundle, "linux", tmp_path / "retrieval", [bundle.RETRIEVAL])

    with pytest.raises(ClientError, match="holds no retrieval model .* --artifacts retrieval_int8"):
        Recommender(tmp_path / "ranker").recommend("7")
    with pytest.raises(ClientError, match="holds no ranker; export one with --artifacts student_int8"):
        Recommender(tmp_path / "retrieval").rank("7", None, ["1"])


def test_a_tampered_file_is_refused_on_open(exported, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exported, folder)
    (folder / "vocab" / "item_id.txt").write_text("a\nb\n")

    with pytest.raises(ClientError, match="item_id.txt: missing or not the file the card describes"):
        Recommender(folder)
