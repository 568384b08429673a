"""Sensitivity analysis and the automatic search for the smallest int8 student meeting a target.

- `target`: parse `auc>=0.999*teacher,ndcg@10>=0.99*teacher` into clauses (no TensorFlow);
- `pareto`: the Pareto front of measured trials (no TensorFlow);
- `trial`: apply a chain of compression steps to the distilled student, convert to int8, measure;
- `sensitivity`: one step on one layer at a time (`edgerec compress --sensitivity`);
- `search`: the search `edgerec build --target` runs.

Every selection is made on the task's validation split (carved from the training data), never
on the held-out data the bundle reports.
"""
