"""A fixed TensorFlow workload that does not touch edgerec: the yardstick for the smoke build's time budget.

The CI machine's speed drifts by 1.5x and more over a day (a shared 2-core VM: the same smoke build took 62 s
and 103 s on the same commit), so a wall-clock budget alone fails on a slow hour and would pass a regression on
a fast one. `.ci/run` times this script in the same job, just before the smoke build, and gates the ratio of
the two. It does the kinds of work a build does, in a similar mix: import the training stack, trace and fit a
small embedding + MLP model, predict, and convert it to int8 TFLite.

`.ci/run` times the whole process, so the imports count.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

rng = np.random.default_rng(0)
rows, users, items = 20_000, 300, 300  # equal sizes: the converter may order the inputs by name
x = {"user": rng.integers(0, users, rows), "item": rng.integers(0, items, rows)}
y = rng.integers(0, 2, rows).astype("float32")

keras.utils.set_random_seed(0)
user_in = keras.Input((), dtype="int64", name="user")
item_in = keras.Input((), dtype="int64", name="item")
joined = keras.layers.Concatenate()(
    [keras.layers.Embedding(users, 16)(user_in), keras.layers.Embedding(items, 16)(item_in)]
)
hidden = keras.layers.Dense(32, activation="relu")(joined)
model = keras.Model([user_in, item_in], keras.layers.Dense(1)(hidden))
model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
for _ in range(3):  # three short stages, each traced afresh as a build's stages are
    model.fit(x, y, batch_size=256, epochs=2, verbose=0)
    model.predict(x, batch_size=1024, verbose=0)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))


def calibration():
    for start in range(0, 512, 64):
        yield [x["user"][start:start + 64], x["item"][start:start + 64]]


converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.representative_dataset = calibration
converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
converter.convert()
