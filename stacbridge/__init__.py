"""stacbridge: a STAC API federation gateway with a signing asset proxy."""

__version__ = "0.1.0"
