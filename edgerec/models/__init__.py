"""Keras rankers (teacher and student) and the custom layers they and the compressors use."""
