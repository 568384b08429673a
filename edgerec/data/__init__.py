"""Interactions in, model-ready tensors out: sources, splits, negatives, the ranking task."""
