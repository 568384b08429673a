"""TF-IDF + truncated SVD (latent semantic analysis): the item-text encoder that needs no extra.

It is not a language model: texts are close only when they share words or word pairs, and the
vectors depend on the whole set of texts encoded together (the vocabulary, the idf weights and the
SVD basis are fitted on them). It exists so that text-aware training works where the `text` extra
cannot be installed; scikit-learn comes with the `train` extra. The SVD has a fixed seed, so the
same texts always give the same vectors.
"""

from __future__ import annotations

import numpy as np

from edgerec.data.schema import DataError
from edgerec.text.base import Encoder, l2_normalise, register

MAX_DIMS = 64
SEED = 0


class TfIdf(Encoder):
    name = "tfidf"

    def describe(self) -> str:
        return (f"tfidf: TF-IDF (word 1-2-grams, sublinear tf) + truncated SVD to at most {MAX_DIMS} dims, "
                "fitted on the encoded texts; a fallback, not a language model")

    def encode(self, texts: list[str]) -> np.ndarray:
        try:
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError:
            raise DataError(f"text encoder '{self.name}' needs scikit-learn: pip install 'edgerec[train]'") from None
        try:
            matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(texts)
        except ValueError:  # no text has a word of two or more letters (or there is no text)
            return np.zeros((len(texts), 1), dtype=np.float32)
        dims = min(MAX_DIMS, matrix.shape[1] - 1, matrix.shape[0] - 1)
        if dims < 1:  # one text or one word: a single direction says all there is
            return l2_normalise(matrix[:, :1].toarray())
        return l2_normalise(TruncatedSVD(n_components=dims, random_state=SEED).fit_transform(matrix))


register(TfIdf())
