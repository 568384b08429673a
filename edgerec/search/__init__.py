"""Sensitivity analysis and the automatic search for the smallest int8 student meeting a target.

- `target`: parse `auc>=0.999*teacher,ndcg@10>=0.99*teacher` into clauses (no TensorFlow);
- `pareto`: the Pareto front of measured trials (no TensorFlow);
- `trial`: apply a chain of compression steps to the distilled student, convert to int8, measure;
- `sensitivity`: one step on one layer at a time (`edgerec compress --sensitivity`);
- `search`: the search `edgerec build --target` runs.

Every selection is made on the task's validation split (carved from the training data), never
on the held-out data the bundle reports.
"""

# Values of a sensitivity row's `step` and `layer` that name no compression step or layer; the
# sweep, the search and the sensitivity table read them from here.
WHOLE_MODEL = "(whole model)"  # the layer of a probe whose step has no `layers` parameter
PRECISION = "keep_float"  # not a compression step: one layer kept in float32 in the int8 artifact
