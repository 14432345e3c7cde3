"""Errors raised by the geometry layer.

Every error subclasses :class:`GeometryError`, itself a :class:`ValueError`, so callers that
only care about "bad input" can catch ``ValueError``.
"""

from __future__ import annotations


class GeometryError(ValueError):
    """Base class of every error raised by :mod:`viterbo.geometry`."""


class InvalidInputError(GeometryError):
    """Malformed input: wrong shape, NaN/inf entries, zero-length normals, bad parameters."""


class DegeneratePolytopeError(GeometryError):
    """The input spans a lower-dimensional set (too few or affinely dependent points)."""


class UnboundedPolytopeError(GeometryError):
    """A halfspace system whose intersection is unbounded."""


class EmptyPolytopeError(GeometryError):
    """A halfspace system whose intersection is empty."""
