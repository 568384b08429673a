"""Run ``.tflite`` artifacts on the device: latency, memory and accuracy rows.

Imports only the standard library, numpy and a TFLite interpreter package, so
it runs on a Raspberry Pi or phone where TensorFlow is not installed.
"""
