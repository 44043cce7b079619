"""The data package's one error type."""
from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """A dataset that is unknown, missing or malformed; the message is fit to show the user."""
