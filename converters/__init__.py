"""Keras -> TFLite: conversion modes, representative data, parity checks, manifest entries.

Converters return bytes and facts; the caller (edgerec's pipeline) decides where files go and
writes them atomically. Parity runs the artifact through `device_bench`, the same interpreter
code the device uses, so a mismatch found here is the one a phone would see.
"""
