"""Exception types shared across inrcodec."""

from __future__ import annotations

__all__ = ["FormatError", "InputError", "LossWarning", "MissingBaseError"]


class FormatError(ValueError):
    """The bytes are not a valid .inr file or need something this decoder lacks."""


class InputError(ValueError):
    """Bad user input, e.g. an unreadable file or an unsupported format."""


class MissingBaseError(FormatError):
    """The file names a base network that this install does not have."""


class LossWarning(UserWarning):
    """The input holds something the format does not keep (an alpha channel, 16-bit colour): dropped."""
