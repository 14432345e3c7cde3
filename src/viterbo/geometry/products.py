"""Lagrangian and symplectic products of polygons, built exactly, and their detection.

Coordinates are ``(q1, q2, p1, p2)`` (MATH.md §1):

* Lagrangian product ``K x T``: ``K`` in the ``(q1, q2)``-plane, ``T`` in the ``(p1, p2)``-plane;
* symplectic product ``P1 x P2``: ``P1`` in the ``(q1, p1)``-plane, ``P2`` in the ``(q2, p2)``-plane.

The H-representation of a product is exact: one facet per edge of each factor
(``m_1 + m_2`` facets), and the vertices are the pairs of factor vertices (``m_1 m_2``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viterbo.geometry.errors import InvalidInputError
from viterbo.geometry.polytope import Polytope, _sorted

# Coordinates of the two factors inside (q1, q2, p1, p2).
_LAGRANGIAN_SPLIT = ((0, 1), (2, 3))
_SYMPLECTIC_SPLIT = ((0, 2), (1, 3))
# A unit normal "lies in" a coordinate plane when its other entries are below this.
_SPLIT_ATOL = 1e-12


def _as_polygon(factor: Any, name: str) -> Polytope:
    polygon = factor if isinstance(factor, Polytope) else Polytope.from_vertices(factor)
    if polygon.dim != 2:
        raise InvalidInputError(
            f"{name} must be a polygon (dimension 2), got dimension {polygon.dim}"
        )
    return polygon


def _product(
    first: Polytope, second: Polytope, split: tuple[tuple[int, int], tuple[int, int]]
) -> Polytope:
    (a0, a1), (b0, b1) = split
    m1, m2 = first.num_vertices, second.num_vertices
    f1, f2 = first.num_facets, second.num_facets
    vertices = np.zeros((m1 * m2, 4))
    # Vertex (i, j) = (first vertex i, second vertex j) sits at row i * m2 + j.
    vertices[:, [a0, a1]] = np.repeat(first.vertices, m2, axis=0)
    vertices[:, [b0, b1]] = np.tile(second.vertices, (m1, 1))
    normals = np.zeros((f1 + f2, 4))
    normals[:f1, [a0, a1]] = first.normals
    normals[f1:, [b0, b1]] = second.normals
    offsets = np.concatenate([first.offsets, second.offsets])
    incidence = np.vstack(
        [np.repeat(first.incidence, m2, axis=1), np.tile(second.incidence, (1, m1))]
    )
    return Polytope(*_sorted(vertices, normals, offsets, incidence))


def lagrangian_product(K: Any, T: Any) -> Polytope:
    """The Lagrangian product ``K x T`` (``K`` in the q-plane, ``T`` in the p-plane).

    Parameters
    ----------
    K, T : Polytope or array_like
        Polygons, as 2-D :class:`Polytope` objects or ``(m, 2)`` vertex arrays.

    Returns
    -------
    Polytope
        The 4-D product with ``m_K + m_T`` facets and ``m_K * m_T`` vertices.
    """
    return _product(_as_polygon(K, "K"), _as_polygon(T, "T"), _LAGRANGIAN_SPLIT)


def symplectic_product(P1: Any, P2: Any) -> Polytope:
    """The symplectic product ``P1 x P2`` (``P1`` in ``(q1, p1)``, ``P2`` in ``(q2, p2)``).

    Parameters
    ----------
    P1, P2 : Polytope or array_like
        Polygons, as 2-D :class:`Polytope` objects or ``(m, 2)`` vertex arrays.

    Returns
    -------
    Polytope
        The 4-D product with ``m_1 + m_2`` facets and ``m_1 * m_2`` vertices.
    """
    return _product(_as_polygon(P1, "P1"), _as_polygon(P2, "P2"), _SYMPLECTIC_SPLIT)


def _split_masks(
    polytope: Polytope, split: tuple[tuple[int, int], tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Which facets belong to each factor, or ``None`` if the normals do not split."""
    if polytope.dim != 4:
        return None
    first, second = (list(s) for s in split)
    normals = polytope.normals
    in_first = np.all(np.abs(normals[:, second]) <= _SPLIT_ATOL, axis=1)
    in_second = np.all(np.abs(normals[:, first]) <= _SPLIT_ATOL, axis=1)
    if not np.all(in_first | in_second) or in_first.sum() < 3 or in_second.sum() < 3:
        return None
    return in_first, in_second


def _split(
    polytope: Polytope, split: tuple[tuple[int, int], tuple[int, int]]
) -> tuple[Polytope, Polytope] | None:
    masks = _split_masks(polytope, split)
    if masks is None:
        return None
    in_first, in_second = masks
    first, second = (list(s) for s in split)
    normals = polytope.normals
    # The translation part of the product is absorbed in the offsets of each factor.
    factor_one = Polytope.from_halfspaces(normals[in_first][:, first], polytope.offsets[in_first])
    factor_two = Polytope.from_halfspaces(
        normals[in_second][:, second], polytope.offsets[in_second]
    )
    return factor_one, factor_two


def as_lagrangian_product(polytope: Polytope) -> tuple[Polytope, Polytope] | None:
    """The factors ``(K, T)`` when every facet normal lies in the q-plane or the p-plane.

    Returns ``None`` for other polytopes (and in dimensions other than 4).
    """
    return _split(polytope, _LAGRANGIAN_SPLIT)


def as_symplectic_product(polytope: Polytope) -> tuple[Polytope, Polytope] | None:
    """The factors ``(P1, P2)`` when every normal lies in the (q1,p1)- or (q2,p2)-plane.

    Returns ``None`` for other polytopes (and in dimensions other than 4).
    """
    return _split(polytope, _SYMPLECTIC_SPLIT)


def is_lagrangian_product(polytope: Polytope) -> bool:
    """Whether every facet normal lies in the q-plane or the p-plane (see as_lagrangian_product)."""
    return _split_masks(polytope, _LAGRANGIAN_SPLIT) is not None  # no factors built


def is_symplectic_product(polytope: Polytope) -> bool:
    """Whether every facet normal lies in the (q1,p1)- or (q2,p2)-plane (see as_symplectic_product)."""
    return _split_masks(polytope, _SYMPLECTIC_SPLIT) is not None  # no factors built
