"""The one error the export tool reports to its user as a single line."""

from __future__ import annotations


class ExportError(Exception):
    """A problem with the user's input or the export's outcome, worded for the user."""
