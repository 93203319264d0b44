"""The SDK's version. A breaking change to the public surface means a new major version."""

__version__ = "0.1.0"
