"""Which worker a process is: from --workers/--worker-index (written to TF_CONFIG) or from TF_CONFIG, and
every malformed description refused in one line naming the flag or variable."""

import json

import pytest

from edgerec import cluster


@pytest.fixture(autouse=True)
def no_tf_config(monkeypatch):
    """No TF_CONFIG during the test, and whatever `resolve` writes is undone after it."""
    monkeypatch.setenv(cluster.VARIABLE, "")
    monkeypatch.delenv(cluster.VARIABLE)


def test_flags_write_the_tf_config_the_strategy_reads(monkeypatch):
    worker = cluster.resolve("10.0.0.5:2222,10.0.0.6:2222", 1)
    assert (worker.count, worker.index, worker.chief) == (2, 1, False)
    assert json.loads(cluster.os.environ[cluster.VARIABLE]) == {
        "cluster": {"worker": ["10.0.0.5:2222", "10.0.0.6:2222"]}, "task": {"type": "worker", "index": 1}}


def test_one_worker_or_nothing_is_a_single_process():
    assert cluster.resolve(None, None) == cluster.Worker()
    assert cluster.resolve("127.0.0.1:2222", 0) == cluster.Worker(1, 0)
    assert cluster.VARIABLE not in cluster.os.environ


def test_tf_config_with_a_chief_task_counts_it_as_worker_zero(monkeypatch):
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv(cluster.VARIABLE, json.dumps(config))
    assert cluster.resolve(None, None) == cluster.Worker(3, 2)


@pytest.mark.parametrize("workers, index, message", [
    ("a:1,b:1", None, "--workers needs --worker-index"),
    (None, 1, "--worker-index needs --workers"),
    ("a:1,b:1", 2, "--worker-index 2: expected 0..1 for 2 workers"),
    ("a:1,b", 0, "--workers: 'b' is not host:port"),
])
def test_bad_flags_are_named(workers, index, message):
    with pytest.raises(cluster.ClusterError, match=message):
        cluster.resolve(workers, index)


@pytest.mark.parametrize("text, message", [
    ("{not json", "TF_CONFIG: expected"),
    (json.dumps({"cluster": {"worker": ["a:1"], "ps": ["p:1"]}, "task": {"type": "worker", "index": 0}}),
     "a parameter-server cluster is not"),
    (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}),
     "task index 3 is outside the 1 workers"),
])
def test_bad_tf_config_is_named(monkeypatch, text, message):
    monkeypatch.setenv(cluster.VARIABLE, text)
    with pytest.raises(cluster.ClusterError, match=message):
        cluster.resolve(None, None)


def test_flags_and_tf_config_together_are_refused(monkeypatch):
    monkeypatch.setenv(cluster.VARIABLE, "{}")
    with pytest.raises(cluster.ClusterError, match="--workers and TF_CONFIG both describe the cluster"):
        cluster.resolve("a:1,b:1", 0)


def test_the_teacher_verb_reports_a_bad_cluster_or_data_flag_in_one_line(tmp_path):
    from click.testing import CliRunner

    from edgerec.cli import main

    runner = CliRunner()
    bad_cluster = runner.invoke(main, ["teacher", "--data", str(tmp_path), "--workers", "a:1,b:1"])
    no_data = runner.invoke(main, ["teacher", "--data", str(tmp_path / "absent")])
    for result, line in ((bad_cluster, "Error: --workers needs --worker-index (which of the workers this process is, from 0)"),
                         (no_data, f"Error: --data: {tmp_path / 'absent'}: no such folder")):
        assert result.exit_code == 2 and result.output.strip() == line
