"""Errors raised by the atlas layer.

Every error a user can cause (bad preset, bad URL, unreadable database, unsafe export name,
bad parameters) is an :class:`AtlasError`, a ``ValueError`` subclass whose message is one line
that names the problem; the CLI prints it without a traceback.
"""

from __future__ import annotations


class AtlasError(ValueError):
    """A user-facing problem with the atlas (bad input, unusable database, ...)."""


class DatabaseURLError(AtlasError):
    """The database URL is malformed or names an unknown driver."""


class DatabaseUnusableError(AtlasError):
    """The database cannot be opened, is corrupt, is not an atlas database, or is too new."""


class DatabaseMissingError(DatabaseUnusableError):
    """A command that only reads or works on an atlas database found none (it creates none)."""


class PresetError(AtlasError):
    """Unknown preset or malformed preset specification."""


class ExportError(AtlasError):
    """Unsafe export name or unusable output location."""


class JobParamsError(AtlasError):
    """A job's stored parameters cannot be parsed or do not fit its kind."""
