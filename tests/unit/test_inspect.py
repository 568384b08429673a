import numpy as np
import pytest
from click.testing import CliRunner

from converters import representative, tflite
from converters.inspect import inspect
from edgerec.cli import main


@pytest.fixture(scope="module")
def artifacts(tiny_student, tiny_task, tmp_path_factory):
    folder = tmp_path_factory.mktemp("inspect")
    (folder / "fp32.tflite").write_bytes(tflite.convert(tiny_student, "fp32"))
    calibration = representative.dataset(tiny_task.representative_rows(100))
    (folder / "int8.tflite").write_bytes(tflite.convert(tiny_student, "int8", calibration))
    return folder


def _embedding_values(task, dim=4):
    return sum(f.vocab_size * dim for f in task.features)


@pytest.mark.parametrize("name, itemsize, full_integer", [("fp32.tflite", 4, False), ("int8.tflite", 1, True)])
def test_bytes_by_kind_and_integer_check(artifacts, tiny_task, name, itemsize, full_integer):
    # execute
    result = inspect(artifacts / name)
    # assert: embedding bytes are exactly the tables (vocab x 4 dims per feature)
    assert result.bytes_by_kind["embedding"] == _embedding_values(tiny_task) * itemsize
    assert result.bytes_by_kind["dense"] > 0
    assert result.ops["GATHER"] == len(tiny_task.features)
    assert result.all_int8 is full_integer
    tables = [c for c in result.constants if c["kind"] == "embedding"]
    assert {c["dtype"] for c in tables} == {"INT8" if full_integer else "FLOAT32"}


@pytest.mark.parametrize("use_bias, activation, kind", [(False, None, "embedding"), (True, None, "dense"), (False, "relu", "dense")])
def test_a_projection_of_gathered_rows_counts_as_embedding(use_bias, activation, kind, tmp_path):
    # setup: Embedding -> Dense; without bias or activation the Dense is a factorised table's
    # projection (E = T P), otherwise a layer of its own
    from edgerec._keras import keras

    ids = keras.Input(shape=(), dtype="int32", name="ids")
    dense = keras.layers.Dense(8, use_bias=use_bias, activation=activation, bias_initializer="ones")
    out = dense(keras.layers.Embedding(50, 3)(ids))
    (tmp_path / "m.tflite").write_bytes(tflite.convert(keras.Model(ids, out), "fp32"))
    # execute
    result = inspect(tmp_path / "m.tflite")
    # assert
    assert [c["kind"] for c in result.constants if c["shape"] == [8, 3]] == [kind]
    assert result.bytes_by_kind["embedding"] == (50 * 3 + (8 * 3 if kind == "embedding" else 0)) * 4


def test_cli_summary_and_json(artifacts):
    result = CliRunner().invoke(main, ["inspect", str(artifacts / "int8.tflite")])
    assert result.exit_code == 0 and "every op is int8" in result.output and "embedding" in result.output
    result = CliRunner().invoke(main, ["inspect", str(artifacts / "fp32.tflite"), "--json"])
    assert result.exit_code == 0 and '"all_int8": false' in result.output


def test_cli_rejects_missing_and_non_tflite_files(tmp_path):
    result = CliRunner().invoke(main, ["inspect", str(tmp_path / "none.tflite")])
    assert result.exit_code == 2 and "no such file" in result.output
    (tmp_path / "bad.tflite").write_bytes(b"not a model at all")
    result = CliRunner().invoke(main, ["inspect", str(tmp_path / "bad.tflite")])
    assert result.exit_code == 2 and "not a TFLite flatbuffer" in result.output


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_cli_names_a_truncated_model_without_traceback(artifacts, tmp_path, keep):
    data = (artifacts / "int8.tflite").read_bytes()
    (tmp_path / "cut.tflite").write_bytes(data[: int(len(data) * keep)])
    result = CliRunner().invoke(main, ["inspect", str(tmp_path / "cut.tflite")])
    assert result.exit_code == 2, result.output
    assert "cut.tflite: damaged TFLite flatbuffer" in result.output and "Traceback" not in result.output


def test_sparse_encoded_weights_count_their_indices_and_stay_dense_kind(tiny_student, tmp_path):
    # setup: zero the 75 % smallest weights of hidden_0 (16 x 16 -> 64 non-zeros over 16 output rows)
    from edgerec._keras import keras

    model = keras.models.clone_model(tiny_student)
    model.set_weights(tiny_student.get_weights())
    layer = model.get_layer("hidden_0")
    kernel, bias = layer.get_weights()
    kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.75)] = 0.0
    layer.set_weights([kernel, bias])
    nonzero, rows = int((kernel != 0).sum()), kernel.shape[1]
    (tmp_path / "plain.tflite").write_bytes(tflite.convert(model, "fp32"))
    (tmp_path / "sparse.tflite").write_bytes(tflite.convert(model, "fp32", sparse=True))
    # execute
    plain, sparse = inspect(tmp_path / "plain.tflite"), inspect(tmp_path / "sparse.tflite")
    # assert: hidden_0's weight is stored sparse (values + CSR indices), still counted as a dense-layer weight
    encoded = [c for c in sparse.constants if c["sparse"]]
    assert len(encoded) == 1 and encoded[0]["kind"] == "dense" and encoded[0]["shape"] == [16, 16]
    values = nonzero * 4
    assert values + nonzero + rows + 1 <= encoded[0]["bytes"] <= values + 4 * (nonzero + rows + 1)
    assert sparse.ops["DENSIFY"] == 1  # random sparsity: the runtime rebuilds the dense weight
    assert sparse.bytes_by_kind["other"] == plain.bytes_by_kind["other"] == 0
    assert plain.bytes_by_kind["dense"] - sparse.bytes_by_kind["dense"] == 16 * 16 * 4 - encoded[0]["bytes"]
    assert not any(c["sparse"] for c in plain.constants)
