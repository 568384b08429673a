"""edgerec: distil, compress and convert recommenders to TFLite; benchmark them on the device.

Importing this package must stay cheap and TensorFlow-free: on a phone-class device only
`edgerec bench` runs, with numpy and a TFLite interpreter installed.
"""

__version__ = "0.1.0"
