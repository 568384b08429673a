"""The reference client (device_bench.client) reproduces the bench from raw ids, without TensorFlow.

    python .ci/check_client.py BUNDLE EXPORT [--json FILE]

EXPORT is `edgerec export BUNDLE ...`'s folder. From raw ids only (the export's vocabulary files
give them; the bundle's eval.npz says which held-out item each row is), it asserts that:

- the retrieval model's full-catalogue metrics computed through `Recommender.score` over every
  item, each user's other interactions excluded (device_bench.retrieval.catalogue_metrics, the
  bench's own function), equal the bundle's bench.json row to 1e-6;
- `recommend(k, exclude)` is `score`'s top K (ties to the lower index, as TOPK_V2 breaks them) with
  the excluded items dropped, cut to k; and refuses when fewer than k are left;
- `rank` (item side features from the export's item table) gives the bundle's ranker logits on the
  eval set's rows for the same (user, item) pairs, when the export holds a ranker.

Exit 0 and one summary line, or an AssertionError naming what differs. CI runs it in the
edgerec[device] virtualenv (no TensorFlow, no pytest); tests/device/test_client.py runs it with
TensorFlow blocked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from device_bench import accuracy, bundle, evalset, metrics, retrieval, runtime
from device_bench.card import USER_ID, read_card, read_vocabulary
from device_bench.client import ClientError, Recommender

TOLERANCE = 1e-6
K_ASKED = 10  # the k of the recommend check
RANKED_ROWS = 20  # held-out rows whose candidates the rank check scores


def raw_users(folder: Path, part: evalset.RetrievalSet, names: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Each held-out row's raw user id and raw user features, read back through the export's vocabularies."""
    card = read_card(folder)
    vocab = {name: read_vocabulary(folder / card["vocabularies"][name]["file"]) for name in names}
    return [(vocab[USER_ID][part.users[USER_ID][row]],
             {name: vocab[name][part.users[name][row]] for name in names if name != USER_ID})
            for row in range(part.rows)]


def seen(part: evalset.RetrievalSet, row: int) -> np.ndarray:
    """The item indices the row's user interacted with, its target aside (what an app excludes)."""
    user = part.seen_row[row]
    items = part.seen_items[part.seen_offsets[user]:part.seen_offsets[user + 1]]
    return items[items != part.targets[row]]


def full_catalogue(client: Recommender, users: list, part: evalset.RetrievalSet) -> dict[str, float]:
    """The full-catalogue metrics through the client's `score`, raw ids in."""
    catalogue = client.items
    return retrieval.catalogue_metrics(
        lambda rows: np.asarray([client.score(*users[row], catalogue) for row in rows]), part)[0]


def check_recommend(client: Recommender, users: list, part: evalset.RetrievalSet) -> tuple[int, int]:
    """recommend(k, exclude) against score's top K; returns (rows compared, rows refused as expected)."""
    items, k_model = client.items, client.top_k
    compared = refused = 0
    for row, (user, features) in enumerate(users):
        scores = np.asarray(client.score(user, features, items))
        order = np.lexsort((np.arange(1, len(items)), -scores[1:]))[:k_model] + 1  # best first, OOV item 0 never
        excluded = seen(part, row)
        kept = [int(i) for i in order if i not in set(excluded.tolist())]
        exclude = [items[i] for i in excluded]
        if len(kept) < K_ASKED:
            try:
                client.recommend(user, features, K_ASKED, exclude)
            except ClientError as exc:
                assert "retrieval.top_k" in str(exc), exc
                refused += 1
                continue
            raise AssertionError(f"row {row}: recommend gave {K_ASKED} items with only {len(kept)} left of K={k_model}")
        got = client.recommend(user, features, K_ASKED, exclude)
        assert [raw for raw, _ in got] == [items[i] for i in kept[:K_ASKED]], (row, got, kept[:K_ASKED])
        np.testing.assert_allclose([s for _, s in got], scores[kept[:K_ASKED]], rtol=TOLERANCE, atol=TOLERANCE)
        compared += 1
    return compared, refused


def check_rank(client: Recommender, bundle_folder: Path, users: list, part: evalset.RetrievalSet) -> int:
    """client.rank on raw ids against the bundle's ranker on eval.npz's rows; returns the rows compared."""
    interpreter, _ = runtime.load(bundle_folder / client.card["models"][client.ranker_name]["file"])
    rows = np.arange(min(RANKED_ROWS, part.rows))
    rng = np.random.default_rng(0)
    candidates = rng.integers(0, part.num_items, size=(rows.size, 20)).astype(np.int32)
    expected = accuracy.predict(interpreter, part.ranker_rows(rows, candidates)).reshape(candidates.shape)
    for row in rows:
        got = client.rank(*users[row], [client.items[i] for i in candidates[row]])
        np.testing.assert_allclose(got, expected[row], rtol=1e-5, atol=1e-5, err_msg=f"rank, row {row}")
    return int(rows.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("export", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="also write what was computed here")
    args = parser.parse_args()

    client = Recommender(args.export)
    part = evalset.load(args.bundle / bundle.EVAL_SET).retrieval
    assert part is not None, f"{args.bundle / bundle.EVAL_SET} has no retrieval part"
    file = client.card["models"][client.retrieval_name]["file"]
    rows = [r for r in json.loads((args.bundle / bundle.BENCH).read_text())["rows"] if r["artifact"] == file]
    assert rows and rows[0]["status"] == "ok", f"bench.json has no ok row of {file}"
    names = sorted(part.users)
    users = raw_users(args.export, part, names)

    computed = full_catalogue(client, users, part)
    bench = {key: rows[0]["metrics"][key] for key in metrics.retrieval_keys(metrics.CATALOGUE)}
    for key, value in bench.items():
        assert abs(computed[key] - value) <= TOLERANCE, f"{key}: client {computed[key]}, bench.json {value}"
    compared, refused = check_recommend(client, users, part)
    assert compared > 0, "no row had K_ASKED items left after exclusion: the recommend check compared nothing"
    ranked = check_rank(client, args.bundle, users, part) if client.ranker_name else 0

    result = {"metrics": computed, "bench": bench, "recommend_compared": compared, "recommend_refused": refused,
              "ranked_rows": ranked, "users": part.rows}
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"client from raw ids: {', '.join(f'{k} {v}' for k, v in computed.items())} = bench.json's {file} row "
          f"({part.rows} users); recommend = score's top-{K_ASKED} after exclusion on {compared} users "
          f"({refused} refused: fewer than {K_ASKED} left of K={client.top_k}); rank = the ranker on {ranked} rows")


if __name__ == "__main__":
    main()
