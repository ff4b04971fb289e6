"""The error a detector backend raises when it cannot be built on this machine."""


class DetectorUnavailableError(RuntimeError):
    """A detector backend was asked for by name but cannot be built here."""
