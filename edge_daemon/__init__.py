"""emotion-edge: a headless facial-emotion sensor for edge devices."""

__version__ = "0.1.0"
