"""Data in, model-ready tensors out: sources (interactions, Criteo CTR rows), splits, negatives, the tasks."""
