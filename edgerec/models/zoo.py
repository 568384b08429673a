"""Teacher and student builders: functional tf_keras models, one named int32 input per feature.

Every architecture outputs a single LOGIT per row, shape (batch, 1), named "score". A logit, not
a probability, because (a) distillation needs logits, and (b) after int8 quantization a sigmoid
output has 1/256 resolution and would tie most candidates in a top-10 ranking; apps apply
the sigmoid themselves when they need a probability.

The zoo (`ModelConfig.architecture`, the names registered in `architectures.py`, each built by the
function registered here under its name), all over every feature (ids and side features):
- `mlp`: NCF-MLP (He et al., "Neural Collaborative Filtering", WWW 2017): concatenated
  embeddings -> MLP -> logit.
- `neumf`: NeuMF from the same paper: a GMF branch (element-wise product of separate user and
  item id embeddings) next to the MLP tower, concatenated -> logit.
- `deepfm`: DeepFM (Guo et al., IJCAI 2017): first-order weight per feature value + FM
  second-order interactions over the shared embeddings + a deep MLP on them, summed.
- `dcn_v2`: DCN-v2 (Wang et al., WWW 2021): cross layers (optionally low-rank) next to the MLP.
  With `cross_layers: 0` this is the same model as `mlp`.
- `two_tower`: a dual encoder (Yi et al., "Sampling-bias-corrected neural modeling", RecSys 2019;
  the TFLite on-device recommendation example): a user tower over the user's features and an
  item tower over the item's, each embeddings -> MLP -> a linear `embedding_dim` vector, and
  logit = <user vector, item vector> + the item's bias. The item side depends on the item alone,
  so every item's vector can be computed once and a whole catalogue scored with one matrix
  product: the retrieval student (`edgerec.retrieval`, `converters.retrieval`).

With `item_text` (the teacher's recipe key `teacher.item_text`), any architecture adds a
frozen-text tower: the item's text vector (`Interactions.item_vectors`, from a pretrained
language model or a file, `edgerec.text`) is read from a frozen table `item_text_vectors` by item
id, and every item id table of the model (`<prefix>_item_id`: the MLP's, GMF's, DeepFM's first-order
one, the item tower's) adds a small learned linear projection of it (`<prefix>_item_text`) to its
own vector. An item's representation is then its text's, plus an id-specific offset that its
interactions learn, as in hybrid content + id models: a tail item, whose id row its few
interactions barely move, is placed by its text, in every branch that reads the item (in GMF's
user x item product too, where a concatenated text field next to the embeddings would not reach).
In training each item id table's row is dropped for a share `item_id_dropout` of the examples
(DropoutNet, Volkovs et al., NeurIPS 2017), so the text path learns to score an item without it,
as it must for a tail item whose row has learnt nothing. Each table draws its own mask: with two
item tables (towers and GMF) both rows are gone together for only item_id_dropout^2 of the
examples (0.04 at 0.2), the others keep one of them.
The table is frozen so the language model's knowledge is not overwritten by a few interactions;
the model's inputs stay the ids.

Layer names are shared across architectures so distillation and compression can address them:
`embedding_<feature>` (one per feature), `embeddings` (their concatenation, the MLP input),
`hidden_<i>` (MLP layers), `score` (the logit). The two-tower model names its towers' layers
`user_hidden_<i>` / `item_hidden_<i>`, their outputs `user_vector` / `item_vector`, and the per-item
bias `item_bias` (`TWO_TOWER_LAYERS`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from converters.retrieval import TWO_TOWER_LAYERS
from edgerec._keras import keras, tf
from edgerec.data.schema import DataError, FeatureSpec
from edgerec.models import architectures
from edgerec.models.layers import Cross, FactorizationMachine
from edgerec.recipe import ModelConfig

ID_FEATURES = ("user_id", "item_id")  # the pair NeuMF's GMF branch is defined on
Inputs = dict[str, "tf.Tensor"]  # symbolic Keras inputs by feature name
# (inputs, features, config, the item's text vector or None) -> the "score" logit
Builder = Callable[[Inputs, list[FeatureSpec], ModelConfig, "tf.Tensor | None"], "tf.Tensor"]
BUILDERS: dict[str, Builder] = {}  # architecture name -> its builder


def _builds(name: str) -> Callable[[Builder], Builder]:
    """Registers the builder of architecture `name`: one per registered architecture, no other."""

    def register(builder: Builder) -> Builder:
        if name not in architectures.REGISTRY:
            raise ValueError(f"architecture '{name}' is not registered in architectures.py")
        if name in BUILDERS:
            raise ValueError(f"architecture '{name}' has two builders ({BUILDERS[name]} and {builder})")
        BUILDERS[name] = builder
        return builder

    return register


ITEM_TEXT_VECTORS = "item_text_vectors"  # the frozen table of text vectors, row = item id


def text_projection(table: str) -> str:
    """The name of the projection of the item text added to item id table `table` (`<prefix>_item_id`)."""
    return table.removesuffix("_id") + "_text"


def build_ranker(features: list[FeatureSpec], config: ModelConfig, name: str, seed: int = 0,
                 item_vectors: np.ndarray | None = None) -> keras.Model:
    """The `config.architecture` ranker over `features`; same seed -> same initial weights.

    `item_vectors` (one row per item id) feed the frozen-text tower of a `config.item_text` model
    and are ignored otherwise.
    """
    keras.utils.set_random_seed(seed)
    inputs = {f.name: keras.Input(shape=(), dtype="int32", name=f.name) for f in features}
    text = _item_text_field(inputs, features, item_vectors, name) if config.item_text else None
    score = BUILDERS[config.architecture](inputs, features, config, text)
    return keras.Model(inputs=inputs, outputs=score, name=name)


def _item_text_field(inputs: Inputs, features: list[FeatureSpec], item_vectors: np.ndarray | None, role: str):
    """The item's frozen text vector, looked up by item id (see the module docstring)."""
    if item_vectors is None or "item_id" not in inputs:
        raise DataError(
            f"{role}.item_text: true needs item text vectors and this dataset has none; prepare the data with "
            "item text (--item-text-cols, or MovieLens titles) or --item-embeddings FILE, or set item_text: false"
        )
    items = _item_vocab(features)
    if item_vectors.shape[0] != items:
        raise DataError(f"{role}.item_text: {item_vectors.shape[0]} item text vectors for {items} item ids")
    return keras.layers.Embedding(
        items, item_vectors.shape[1], embeddings_initializer=keras.initializers.Constant(item_vectors),
        trainable=False, name=ITEM_TEXT_VECTORS,
    )(inputs["item_id"])


def check_architecture(config: ModelConfig, features: list[FeatureSpec], role: str) -> None:
    """An architecture defined on the user-item pair (NeuMF's GMF branch) needs data with both ids."""
    names = [f.name for f in features]
    if architectures.REGISTRY[config.architecture].needs_ids and not _has_ids(features):
        others = [name for name, architecture in architectures.REGISTRY.items() if not architecture.needs_ids]
        raise DataError(
            f"{role}.architecture: '{config.architecture}' needs {' and '.join(ID_FEATURES)} inputs "
            f"(interaction data); this dataset's features are {', '.join(names)}. Use {', '.join(others[:-1])} or {others[-1]}"
        )


def _embeddings(inputs: Inputs, features: list[FeatureSpec], dim: int, prefix: str = "embedding", text=None,
                id_dropout: float = 0.0) -> list:
    """One `dim` vector per feature; with `text` (the item's text vector), the item id's plus its projection,
    the id's row dropped in training with probability `id_dropout` (`ModelConfig.item_id_dropout`)."""
    vectors = []
    for f in features:
        table = f"{prefix}_{f.name}"
        vector = keras.layers.Embedding(f.vocab_size, dim, name=table)(inputs[f.name])
        if text is not None and f.name == "item_id":
            if id_dropout:  # the whole row, per example: the text alone must score the item then
                vector = keras.layers.Dropout(id_dropout, noise_shape=(None, 1), name=f"{table}_dropout")(vector)
            projected = keras.layers.Dense(dim, name=text_projection(table))(text)
            vector = keras.layers.Add(name=f"{table}_with_text")([vector, projected])
        vectors.append(vector)
    return vectors


def _mlp(x, hidden: tuple[int, ...], dropout: float = 0.0):
    """ReLU layers `hidden_<i>`; with `dropout`, a Dropout layer before each (on the MLP's input too)."""
    for i, units in enumerate(hidden):
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    return x


def _concat(tensors: list, name: str):
    return keras.layers.Concatenate(name=name)(tensors) if len(tensors) > 1 else tensors[0]


@_builds("dcn_v2")
def _dcn_v2(inputs: Inputs, features: list[FeatureSpec], config: ModelConfig, text):
    """Embeddings -> concat -> [DCN-v2 cross stack] and MLP [and GMF] -> Dense(1) logit.

    With `gmf` and interaction data (both ids), NeuMF's GMF branch joins the towers: on sparse
    id-only logs an MLP over concatenated embeddings learns the user-item dot product poorly,
    and a model without it ranks below matrix factorisation (see `ModelConfig.gmf`).
    """
    x0 = keras.layers.Concatenate(name="embeddings")(
        _embeddings(inputs, features, config.embedding_dim, text=text, id_dropout=config.item_id_dropout))
    with_gmf = config.gmf and _has_ids(features)
    towers = [_gmf(inputs, features, config.embedding_dim, text, config.item_id_dropout)] if with_gmf else []
    if config.cross_layers:
        xl = x0
        for i in range(config.cross_layers):
            xl = Cross(projection_dim=config.cross_projection_dim or None, name=f"cross_{i}")([x0, xl])
        towers.append(xl)
    towers.append(_mlp(x0, config.hidden, config.dropout))
    return keras.layers.Dense(1, name="score")(_concat(towers, "towers"))


@_builds("mlp")
def _mlp_ranker(inputs: Inputs, features: list[FeatureSpec], config: ModelConfig, text):
    """NCF-MLP: concatenated embeddings of all features -> MLP -> Dense(1) logit."""
    x0 = keras.layers.Concatenate(name="embeddings")(
        _embeddings(inputs, features, config.embedding_dim, text=text, id_dropout=config.item_id_dropout))
    return keras.layers.Dense(1, name="score")(_mlp(x0, config.hidden, config.dropout))


@_builds("neumf")
def _neumf(inputs: Inputs, features: list[FeatureSpec], config: ModelConfig, text):
    """GMF(user, item) = e_u * e_i on their own embeddings, next to the MLP tower; concat -> logit.

    The paper keeps GMF and MLP embeddings separate so each branch can size them freely;
    side features enter the MLP tower only (GMF is defined on the user-item pair).
    """
    gmf = _gmf(inputs, features, config.embedding_dim, text, config.item_id_dropout)
    x0 = keras.layers.Concatenate(name="embeddings")(
        _embeddings(inputs, features, config.embedding_dim, text=text, id_dropout=config.item_id_dropout))
    towers = keras.layers.Concatenate(name="towers")([gmf, _mlp(x0, config.hidden, config.dropout)])
    return keras.layers.Dense(1, name="score")(towers)


def _has_ids(features: list[FeatureSpec]) -> bool:
    return set(ID_FEATURES) <= {f.name for f in features}


def _gmf(inputs: Inputs, features: list[FeatureSpec], dim: int, text=None, id_dropout: float = 0.0):
    """GMF(user, item) = e_u * e_i, on id embeddings of its own (NeuMF)."""
    ids = [f for f in features if f.name in ID_FEATURES]
    return keras.layers.Multiply(name="gmf")(
        _embeddings(inputs, ids, dim, prefix="gmf_embedding", text=text, id_dropout=id_dropout))


@_builds("deepfm")
def _deepfm(inputs: Inputs, features: list[FeatureSpec], config: ModelConfig, text):
    """logit = sum_i w[x_i] + FM(v_1..v_F) + MLP(concat v); FM and MLP share the embeddings."""
    first_order = keras.layers.Add(name="first_order")(
        _embeddings(inputs, features, 1, prefix="linear", text=text, id_dropout=config.item_id_dropout))
    x0 = keras.layers.Concatenate(name="embeddings")(
        _embeddings(inputs, features, config.embedding_dim, text=text, id_dropout=config.item_id_dropout))
    fields = keras.layers.Reshape((len(features), config.embedding_dim), name="fields")(x0)
    second_order = FactorizationMachine(name="fm")(fields)
    deep = keras.layers.Dense(1, name="deep")(_mlp(x0, config.hidden, config.dropout))
    return keras.layers.Add(name="score")([first_order, second_order, deep])



@_builds("two_tower")
def _two_tower(inputs: Inputs, features: list[FeatureSpec], config: ModelConfig, text):
    """logit = <user tower(user features), item tower(item features)> + bias[item_id].

    Each tower: its owner's embeddings concatenated -> `hidden` ReLU layers -> a linear
    `embedding_dim` vector. The bias is the item's popularity term, which the dot product
    would otherwise have to carry in one of its dimensions.
    """
    vectors = {}
    for owner in ("user", "item"):
        own = [f for f in features if f.owner == owner]
        x = _concat(_embeddings(inputs, own, config.embedding_dim, text=text if owner == "item" else None,
                                  id_dropout=config.item_id_dropout), f"{owner}_embeddings")
        for i, units in enumerate(config.hidden):
            if config.dropout:
                x = keras.layers.Dropout(config.dropout, name=f"{owner}_dropout_{i}")(x)
            x = keras.layers.Dense(units, activation="relu", name=f"{owner}_hidden_{i}")(x)
        vectors[owner] = keras.layers.Dense(config.embedding_dim, name=TWO_TOWER_LAYERS[owner])(x)
    dot = keras.layers.Dot(axes=1, name="dot")([vectors["user"], vectors["item"]])
    bias = keras.layers.Embedding(_item_vocab(features), 1, name=TWO_TOWER_LAYERS["bias"])(inputs["item_id"])
    return keras.layers.Add(name="score")([dot, bias])


def _item_vocab(features: list[FeatureSpec]) -> int:
    return next(f.vocab_size for f in features if f.name == "item_id")
