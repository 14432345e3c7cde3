"""The immutable convex :class:`Polytope` with both representations (MATH.md §2).

Every polytope goes through one canonicaliser:

* candidate vertices and candidate facets come from Qhull (the hull of the input points, or the
  dual hull of the input halfspaces around an interior point found by LP);
* vertices within tolerance of each other are merged, and a candidate is kept as a vertex only
  when the normals of the facets through it span R^d (points inside edges/facets are dropped);
* facets with the same set of incident vertices are merged (Qhull triangulates facets, and
  input halfspaces may repeat or nearly repeat), and a facet is kept only when its vertices
  span a (d-1)-plane (redundant and weakly redundant halfspaces are dropped);
* facets are sorted by their (rounded) normals, vertices lexicographically; in d = 2 vertices
  are in counter-clockwise order instead.

Tolerances are relative: ``tol = rtol * max(diameter, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, QhullError, cKDTree
from scipy.spatial.distance import pdist

from viterbo.geometry import linear_program
from viterbo.geometry.errors import (
    DegeneratePolytopeError,
    EmptyPolytopeError,
    GeometryError,
    InvalidInputError,
    UnboundedPolytopeError,
)
from viterbo.geometry.symplectic import omega

DEFAULT_RTOL = 1e-9


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _as_point_array(points: Any, name: str) -> np.ndarray:
    """A finite float64 array of shape (N, d), d >= 2, or InvalidInputError."""
    try:
        array = np.array(points, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a numeric (N, d) array: {exc}") from None
    if array.ndim != 2:
        raise InvalidInputError(
            f"{name} must be a 2-D array of shape (N, d), got shape {array.shape}"
        )
    if array.shape[1] < 2:
        raise InvalidInputError(f"{name}: dimension must be at least 2, got {array.shape[1]}")
    if array.shape[0] == 0:
        raise InvalidInputError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or infinite entries")
    return array


def _check_rtol(rtol: float) -> float:
    if not (isinstance(rtol, int | float) and math.isfinite(rtol) and 0 < rtol < 1e-2):
        raise InvalidInputError(f"rtol must be a float in (0, 1e-2), got {rtol!r}")
    return float(rtol)


def _read_only(array: np.ndarray, dtype: type = float) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# small geometric helpers
# --------------------------------------------------------------------------------------------


def _affine_widths(points: np.ndarray) -> np.ndarray:
    """Extent of ``points`` along its principal axes, largest first (length d)."""
    centred = points - points.mean(axis=0)
    if len(points) == 1:
        return np.zeros(points.shape[1])
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projections = centred @ vt.T
    widths = projections.max(axis=0) - projections.min(axis=0)
    return np.sort(widths)[::-1]


def _affine_rank(points: np.ndarray, tol: float) -> int:
    """Affine dimension of ``points``: the number of principal extents above ``tol``."""
    if len(points) <= 1:
        return 0
    return int(np.count_nonzero(_affine_widths(points) > tol))


def _bounding_diameter(points: np.ndarray) -> float:
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def _merge_close_points(points: np.ndarray, tol: float) -> np.ndarray:
    """Representatives (cluster means) of the points, merging points closer than ``tol``.

    Clusters are the connected components of the "closer than tol" graph; the output keeps
    the order of each cluster's first point.
    """
    if len(points) <= 1:
        return points.copy()
    pairs = cKDTree(points).query_pairs(tol, output_type="ndarray")
    if len(pairs) == 0:
        return points.copy()
    graph = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(points), len(points))
    )
    _, labels = connected_components(graph, directed=False)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    sums = np.zeros((len(first), points.shape[1]))
    np.add.at(sums, inverse, points)
    means = sums / np.bincount(inverse).astype(float)[:, None]
    return means[np.argsort(first, kind="stable")]


def _ccw_order(vertices: np.ndarray) -> np.ndarray:
    """Indices putting 2-D vertices of a convex polygon in counter-clockwise order.

    The order starts at the lexicographically smallest vertex (compared after rounding, so
    floating-point noise does not move the start), so it is deterministic.
    """
    centre = vertices.mean(axis=0)
    angles = np.arctan2(vertices[:, 1] - centre[1], vertices[:, 0] - centre[0])
    order = np.argsort(angles, kind="stable")
    keys = _rounded(vertices[order], max(_bounding_diameter(vertices), 1.0))
    start = int(np.lexsort((keys[:, 1], keys[:, 0]))[0])
    return np.roll(order, -start)


def _rounded(values: np.ndarray, scale: float) -> np.ndarray:
    # Rounding keys make the sort order insensitive to floating-point noise.
    return np.round(values / scale, 8) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------------
# the canonicaliser
# --------------------------------------------------------------------------------------------


def _groups_by_count(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split the rows of a boolean matrix by their number of True entries.

    Returns ``(rows, columns)`` pairs: ``rows`` (k,) are row indices with the same count c,
    ``columns`` (k, c) the True column indices of each such row. This lets per-face linear
    algebra run as one batched numpy call per face size instead of a Python loop.
    """
    counts = mask.sum(axis=1)
    groups = []
    for count in np.unique(counts):
        rows = np.flatnonzero(counts == count)
        columns = np.nonzero(mask[rows])[1].reshape(len(rows), int(count))
        groups.append((rows, columns))
    return groups


def _affine_ranks(points: np.ndarray, mask: np.ndarray, tol: float) -> np.ndarray:
    """Affine rank of ``points[mask[i]]`` for every row ``i`` (principal extents > tol)."""
    ranks = np.zeros(len(mask), dtype=int)
    for rows, columns in _groups_by_count(mask):
        if columns.shape[1] <= 1:
            continue
        subsets = points[columns]
        centred = subsets - subsets.mean(axis=1, keepdims=True)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projections = centred @ np.swapaxes(vt, 1, 2)
        widths = projections.max(axis=1) - projections.min(axis=1)
        ranks[rows] = np.count_nonzero(widths > tol, axis=1)
    return ranks


def _spanning_rows(normals: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """For each row ``j`` of ``mask``: do the normals ``normals[mask[j]]`` span R^d?"""
    dim = normals.shape[1]
    spans = np.zeros(len(mask), dtype=bool)
    for rows, columns in _groups_by_count(mask):
        if columns.shape[1] < dim:
            continue
        singular = np.linalg.svd(normals[columns], compute_uv=False)
        spans[rows] = singular[:, dim - 1] > threshold
    return spans


def _fit_planes(
    vertices: np.ndarray, mask: np.ndarray, outward_hints: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares hyperplane through ``vertices[mask[i]]`` for each row, oriented by hints."""
    normals = np.zeros((len(mask), vertices.shape[1]))
    offsets = np.zeros(len(mask))
    for rows, columns in _groups_by_count(mask):
        subsets = vertices[columns]
        centres = subsets.mean(axis=1)
        _, _, vt = np.linalg.svd(subsets - centres[:, None, :], full_matrices=False)
        fitted = vt[:, -1, :]
        signs = np.where(np.einsum("kd,kd->k", fitted, outward_hints[rows]) < 0, -1.0, 1.0)
        fitted = fitted * signs[:, None]
        normals[rows] = fitted
        offsets[rows] = np.einsum("kd,kd->k", fitted, centres)
    return normals, offsets


def _refit_vertices(normals: np.ndarray, offsets: np.ndarray, incidence: np.ndarray) -> np.ndarray:
    """Least-squares intersection of the facets through each vertex (columns of incidence)."""
    vertices = np.zeros((incidence.shape[1], normals.shape[1]))
    for rows, columns in _groups_by_count(incidence.T):
        vertices[rows] = np.einsum("kdc,kc->kd", np.linalg.pinv(normals[columns]), offsets[columns])
    return vertices


def _merge_facets(
    vertices: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    tol: float,
    refit: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge facets through the same vertex set; drop those not spanning a (d-1)-plane.

    Returns the merged normals and offsets, and the incidence whose ranks were checked.
    """
    dim = vertices.shape[1]
    incidence = np.abs(normals @ vertices.T - offsets[:, None]) <= tol
    _, first, group = np.unique(
        np.packbits(incidence, axis=1), axis=0, return_index=True, return_inverse=True
    )
    group = group.ravel()
    merged_incidence = incidence[first]
    keep = _affine_ranks(vertices, merged_incidence, tol) >= dim - 1
    normal_sums = np.zeros((len(first), dim))
    np.add.at(normal_sums, group, normals)
    if refit == "facets":
        new_normals, new_offsets = _fit_planes(vertices, merged_incidence[keep], normal_sums[keep])
    else:
        # Keep the exact input halfspace when it is alone; average near-duplicates.
        offset_sums = np.zeros(len(first))
        np.add.at(offset_sums, group, offsets)
        lengths = np.linalg.norm(normal_sums, axis=1)
        new_normals = (normal_sums / lengths[:, None])[keep]
        new_offsets = (offset_sums / lengths)[keep]
        single = (np.bincount(group) == 1)[keep]
        new_normals[single] = normals[first[keep][single]]
        new_offsets[single] = offsets[first[keep][single]]
    order = np.argsort(first[keep], kind="stable")  # keep the input order of first occurrences
    return new_normals[order], new_offsets[order], merged_incidence[keep][order]


def _canonicalise(
    vertices: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    tol: float,
    rtol: float,
    *,
    refit: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clean candidate vertices/facets into a canonical (V, N, h, incidence).

    ``refit`` is ``"facets"`` (input vertices are exact data: refit facet planes through their
    vertices) or ``"vertices"`` (input halfspaces are exact data: refit each vertex as the
    least-squares intersection of its facets).
    """
    dim = vertices.shape[1]
    converged = False
    for _ in range(3):  # converges in one or two passes; the loop guards against chains
        normals, offsets, checked = _merge_facets(vertices, normals, offsets, tol, refit)
        if len(normals) < dim + 1:
            raise DegeneratePolytopeError(
                f"only {len(normals)} facets survive canonicalisation (need >= {dim + 1}); "
                "the input is (nearly) lower-dimensional"
            )
        incidence = np.abs(normals @ vertices.T - offsets[:, None]) <= tol
        # A boundary point is a vertex iff the normals of its facets span R^d.
        is_vertex = _spanning_rows(normals, incidence.T, max(rtol, 1e-12))
        vertices = vertices[is_vertex]
        if refit == "vertices":
            vertices = _refit_vertices(normals, offsets, incidence[:, is_vertex])
        if is_vertex.all():
            converged = True
            break
    incidence = np.abs(normals @ vertices.T - offsets[:, None]) <= tol
    violation = float(np.max(normals @ vertices.T - offsets[:, None]))
    if violation > 10 * tol:
        raise GeometryError(
            f"canonicalisation failed: a vertex violates a facet by {violation:.3g}"
        )
    # Facets whose vertex sets only grew since their rank check need no second check.
    recheck = np.any(checked & ~incidence, axis=1) if converged else np.ones(len(normals), bool)
    if np.any(_affine_ranks(vertices, incidence[recheck], tol) < dim - 1):
        raise DegeneratePolytopeError(
            f"a facet has fewer than {dim} affinely independent vertices after cleaning"
        )
    return _sorted(vertices, normals, offsets, incidence)


def _canonical_polygon(
    hull_vertices: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Canonical form of a polygon from Qhull's counter-clockwise 2-D hull vertices.

    A fast path for d = 2 (every product of polygons builds two): drop vertices within
    ``tol`` of the line through their neighbours, then edges are consecutive vertex pairs.
    """
    vertices = hull_vertices
    while len(vertices) >= 3:
        before, after = np.roll(vertices, 1, axis=0), np.roll(vertices, -1, axis=0)
        chord = after - before
        cross = chord[:, 0] * (vertices[:, 1] - before[:, 1]) - chord[:, 1] * (
            vertices[:, 0] - before[:, 0]
        )
        distance = np.abs(cross) / np.linalg.norm(chord, axis=1)
        flat = distance <= tol
        if not flat.any():
            break
        flat[np.argsort(distance)[1:]] = False  # drop one at a time: neighbours change
        vertices = vertices[~flat]
    if len(vertices) < 3:
        raise DegeneratePolytopeError("the points are (nearly) collinear: no polygon")
    vertices = vertices[_ccw_order(vertices)]
    edges = np.roll(vertices, -1, axis=0) - vertices
    normals = np.c_[edges[:, 1], -edges[:, 0]] / np.linalg.norm(edges, axis=1)[:, None]
    offsets = np.einsum("kd,kd->k", normals, vertices)
    count = len(vertices)
    incidence = np.zeros((count, count), dtype=bool)
    incidence[np.arange(count), np.arange(count)] = True
    incidence[np.arange(count), (np.arange(count) + 1) % count] = True
    return _sorted(vertices, normals, offsets, incidence)


def _sorted(
    vertices: np.ndarray, normals: np.ndarray, offsets: np.ndarray, incidence: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic order: facets by rounded normal then offset; vertices lexicographically
    (counter-clockwise from the lexicographically smallest one in d = 2)."""
    scale = max(_bounding_diameter(vertices), 1.0)
    dim = vertices.shape[1]
    rounded_normals = _rounded(normals, 1.0)
    facet_keys = [_rounded(offsets, scale), *(rounded_normals[:, k] for k in reversed(range(dim)))]
    facet_order = np.lexsort(facet_keys)
    if dim == 2:
        vertex_order = _ccw_order(vertices)
    else:
        rounded_vertices = _rounded(vertices, scale)
        vertex_order = np.lexsort([rounded_vertices[:, k] for k in reversed(range(dim))])
    # "+ 0.0" turns -0.0 into 0.0 so that dumps do not show signed zeros.
    return (
        vertices[vertex_order] + 0.0,
        normals[facet_order] + 0.0,
        offsets[facet_order] + 0.0,
        incidence[np.ix_(facet_order, vertex_order)],
    )


def _check_bounded(normals: np.ndarray) -> None:
    """Raise unless ``{x : normals @ x <= h}`` is bounded (for any h).

    Bounded iff the normals positively span R^d iff 0 is interior to their convex hull; one
    Qhull call, much cheaper than an LP, so unbounded random draws are rejected fast.
    """
    try:
        hull = ConvexHull(normals)
    except QhullError:  # the normals span only a hyperplane (or nearly so)
        raise UnboundedPolytopeError(
            "the halfspaces define an unbounded set (their normals do not positively span R^d)"
        ) from None
    if np.any(hull.equations[:, -1] >= -1e-12):
        raise UnboundedPolytopeError(
            "the halfspaces define an unbounded set (their normals do not positively span R^d)"
        )


def _chebyshev(normals: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Centre and radius of the largest inscribed ball of {x : N x <= h} (unit normals).

    Returns the scipy status (0 optimal, 2 infeasible, 3 unbounded).
    """
    dim = normals.shape[1]
    cost = np.zeros(dim + 1)
    cost[-1] = -1.0  # maximise the radius
    a_ub = np.hstack([normals, np.ones((len(normals), 1))])
    lower = np.concatenate([np.full(dim, -np.inf), [0.0]])
    result = linear_program.solve(cost, a_ub, offsets, lower=lower)
    if result.x is None:
        return np.zeros(dim), 0.0, result.status
    return result.x[:dim], float(result.x[-1]), 0


# --------------------------------------------------------------------------------------------
# the Polytope type
# --------------------------------------------------------------------------------------------


# Cached properties that depend only on the incidence and the normals (cached_property keeps
# them in the instance __dict__), so that a translate may reuse them.
_TRANSLATION_INVARIANT = ("_two_faces", "_normal_omegas")


@dataclass(frozen=True, eq=False)
class Polytope:
    """A full-dimensional convex polytope in R^d with both representations.

    Build it with :meth:`from_vertices` or :meth:`from_halfspaces` (the dataclass constructor
    is for internal use on already-canonical data). All arrays are read-only.

    Attributes
    ----------
    vertices : numpy.ndarray
        ``(V, d)`` vertices; lexicographic order, counter-clockwise in d = 2.
    normals : numpy.ndarray
        ``(F, d)`` unit outer facet normals.
    offsets : numpy.ndarray
        ``(F,)`` offsets: the polytope is ``{x : normals @ x <= offsets}``.
    incidence : numpy.ndarray
        ``(F, V)`` booleans: vertex ``j`` lies on facet ``i``.
    """

    vertices: np.ndarray
    normals: np.ndarray
    offsets: np.ndarray
    incidence: np.ndarray

    def __post_init__(self) -> None:
        vertices = _read_only(self.vertices)
        normals = _read_only(self.normals)
        offsets = _read_only(self.offsets)
        incidence = _read_only(self.incidence, bool)
        if vertices.ndim != 2 or normals.ndim != 2 or normals.shape[1] != vertices.shape[1]:
            raise InvalidInputError(
                "Polytope: vertices and normals must be (V, d) and (F, d) arrays"
            )
        if offsets.shape != (len(normals),) or incidence.shape != (len(normals), len(vertices)):
            raise InvalidInputError(
                "Polytope: offsets/incidence shapes do not match normals/vertices"
            )
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "normals", normals)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "incidence", incidence)

    def __reduce__(self) -> tuple[type[Polytope], tuple[np.ndarray, ...]]:
        # Rebuild through __init__ so unpickled arrays are read-only again (worker processes).
        return (Polytope, (self.vertices, self.normals, self.offsets, self.incidence))

    def __repr__(self) -> str:
        return f"Polytope(dim={self.dim}, num_vertices={self.num_vertices}, num_facets={self.num_facets})"

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_vertices(cls, points: Any, *, rtol: float = DEFAULT_RTOL) -> Polytope:
        """The convex hull of a finite point set.

        Parameters
        ----------
        points : array_like
            ``(N, d)`` points, ``d >= 2``; duplicates and interior points are allowed.
        rtol : float
            Relative tolerance (scaled by the diameter) for merging points and facets.

        Returns
        -------
        Polytope

        Raises
        ------
        InvalidInputError
            Wrong shape, NaN/inf, ``d < 2``.
        DegeneratePolytopeError
            Fewer than ``d + 1`` affinely independent points (a lower-dimensional set).
        """
        rtol = _check_rtol(rtol)
        points = _as_point_array(points, "points")
        dim = points.shape[1]
        tol = rtol * max(_bounding_diameter(points), 1.0)
        points = _merge_close_points(points, tol)
        if len(points) < dim + 1 or _affine_rank(points, tol) < dim:
            raise DegeneratePolytopeError(
                f"need at least {dim + 1} affinely independent points in R^{dim}; "
                "the points span a lower-dimensional set"
            )
        centre = points.mean(axis=0)  # Qhull is most accurate on centred input
        try:
            hull = ConvexHull(points - centre)
        except QhullError as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "Qhull error"
            raise DegeneratePolytopeError(
                f"convex hull failed (degenerate input): {first_line}"
            ) from None
        vertices = points[hull.vertices]
        tol = rtol * max(_bounding_diameter(vertices), 1.0)
        if dim == 2:
            return cls(*_canonical_polygon(vertices, tol))
        # Qhull's equations: n . (x - centre) + b <= 0 with unit n.
        normals = hull.equations[:, :-1]
        offsets = normals @ centre - hull.equations[:, -1]
        return cls(*_canonicalise(vertices, normals, offsets, tol, rtol, refit="facets"))

    @classmethod
    def from_halfspaces(cls, normals: Any, offsets: Any, *, rtol: float = DEFAULT_RTOL) -> Polytope:
        """The intersection ``{x : normals @ x <= offsets}``.

        Parameters
        ----------
        normals : array_like
            ``(F, d)`` outer normals (any nonzero length; they are normalised).
        offsets : array_like
            ``(F,)`` right-hand sides.
        rtol : float
            Relative tolerance (scaled by the diameter).

        Returns
        -------
        Polytope

        Raises
        ------
        InvalidInputError
            Wrong shapes, NaN/inf, zero-length normals.
        EmptyPolytopeError
            The halfspaces have no common point.
        DegeneratePolytopeError
            The intersection has empty interior (lower-dimensional).
        UnboundedPolytopeError
            The intersection is unbounded.
        """
        rtol = _check_rtol(rtol)
        normals = _as_point_array(normals, "normals")
        try:
            offsets = np.array(offsets, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"offsets must be numeric: {exc}") from None
        if offsets.shape != (len(normals),):
            raise InvalidInputError(
                f"offsets must have shape ({len(normals)},) to match normals, got {offsets.shape}"
            )
        if not np.all(np.isfinite(offsets)):
            raise InvalidInputError("offsets contain NaN or infinite entries")
        lengths = np.linalg.norm(normals, axis=1)
        if np.any(lengths <= 1e-12 * max(1.0, float(lengths.max()))):
            raise InvalidInputError("normals contain a zero-length row")
        normals = normals / lengths[:, None]
        offsets = offsets / lengths
        dim = normals.shape[1]
        if len(normals) < dim + 1 or np.linalg.matrix_rank(normals, tol=1e-12) < dim:
            raise UnboundedPolytopeError(
                "the halfspaces define an unbounded set (their normals do not positively span R^d)"
            )
        _check_bounded(normals)
        centre, radius, status = _chebyshev(normals, offsets)
        if status == 2:
            raise EmptyPolytopeError("the halfspaces have no common point (empty intersection)")
        if status == 3:
            raise UnboundedPolytopeError("the halfspaces define an unbounded set")
        if status != 0:
            raise GeometryError("linear program for an interior point failed")
        scale = max(1.0, float(np.max(np.abs(offsets - normals @ centre))))
        if radius <= rtol * scale:
            raise DegeneratePolytopeError("the halfspace intersection has empty interior")
        # Polar dual around the centre: halfspace i <-> point n_i / (h_i - n_i . c).
        slack = offsets - normals @ centre
        dual = normals / slack[:, None]
        try:
            dual_hull = ConvexHull(dual)
        except QhullError:
            raise UnboundedPolytopeError("the halfspaces define an unbounded set") from None
        dual_offsets = -dual_hull.equations[:, -1]
        # The intersection is bounded iff the centre is strictly inside the dual hull.
        if np.any(dual_offsets <= 1e-12 * float(np.max(np.linalg.norm(dual, axis=1)))):
            raise UnboundedPolytopeError("the halfspaces define an unbounded set")
        vertices = centre + dual_hull.equations[:, :-1] / dual_offsets[:, None]
        tol = rtol * max(_bounding_diameter(vertices), 1.0)
        vertices = _merge_close_points(vertices, tol)
        if radius <= rtol * max(_bounding_diameter(vertices), 1.0):
            raise DegeneratePolytopeError(
                "the halfspace intersection is (nearly) lower-dimensional"
            )
        return cls(*_canonicalise(vertices, normals, offsets, tol, rtol, refit="vertices"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, rtol: float = DEFAULT_RTOL) -> Polytope:
        """Build from ``{"vertices": ...}`` or ``{"normals": ..., "offsets": ...}``.

        When both are present the vertices are used (they are the primary data of a dump made
        by :meth:`to_dict`).
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError("polytope data must be a JSON object")
        if "vertices" in data:
            return cls.from_vertices(data["vertices"], rtol=rtol)
        if "normals" in data and "offsets" in data:
            return cls.from_halfspaces(data["normals"], data["offsets"], rtol=rtol)
        raise InvalidInputError('polytope data needs "vertices" or both "normals" and "offsets"')

    def to_dict(self) -> dict[str, list]:
        """JSON-ready ``{"vertices", "normals", "offsets"}`` (nested lists of floats)."""
        return {
            "vertices": self.vertices.tolist(),
            "normals": self.normals.tolist(),
            "offsets": self.offsets.tolist(),
        }

    # ---------------------------------------------------------------- basic properties

    @property
    def dim(self) -> int:
        """Ambient dimension d."""
        return int(self.vertices.shape[1])

    @property
    def num_vertices(self) -> int:
        """Number of vertices."""
        return int(self.vertices.shape[0])

    @property
    def num_facets(self) -> int:
        """Number of facets."""
        return int(self.normals.shape[0])

    @cached_property
    def diameter(self) -> float:
        """Largest distance between two vertices."""
        return float(pdist(self.vertices).max())

    def tolerance(self, rtol: float = DEFAULT_RTOL) -> float:
        """Absolute tolerance ``rtol * max(diameter, 1)``."""
        return float(rtol) * max(self.diameter, 1.0)

    def facet_vertices(self, i: int) -> np.ndarray:
        """Indices of the vertices on facet ``i``."""
        return np.flatnonzero(self.incidence[i])

    def contains(self, x: Any, *, rtol: float = DEFAULT_RTOL) -> bool:
        """Whether the point ``x`` satisfies every facet inequality within tolerance."""
        point = np.asarray(x, dtype=float)
        if point.shape != (self.dim,):
            raise InvalidInputError(f"point must have shape ({self.dim},), got {point.shape}")
        return bool(np.all(self.normals @ point <= self.offsets + self.tolerance(rtol)))

    # ---------------------------------------------------------------- faces

    @cached_property
    def _two_faces(self) -> tuple[tuple[int, int], ...]:
        dim = self.dim
        incidence = self.incidence
        common = incidence.astype(np.int32) @ incidence.T.astype(np.int32)
        # A (d-2)-face has at least d - 1 affinely independent vertices.
        first, second = np.nonzero(np.triu(common >= dim - 1, k=1))
        if len(first) == 0:
            return ()
        if dim <= 4:
            # F_i ∩ F_j is a proper face of F_i, so of dimension <= d - 2. In d <= 4 a face
            # with >= d - 1 vertices has dimension >= d - 2 (an edge has exactly 2 vertices),
            # so the count alone decides: no linear algebra needed.
            face = np.ones(len(first), dtype=bool)
        else:
            shared = incidence[first] & incidence[second]
            face = _affine_ranks(self.vertices, shared, self.tolerance()) == dim - 2
        return tuple((int(i), int(j)) for i, j in zip(first[face], second[face], strict=True))

    def two_faces(self) -> list[tuple[int, int]]:
        """Facet pairs ``(i, j)``, ``i < j``, meeting in a (d-2)-face (a 2-face in d = 4)."""
        return list(self._two_faces)

    @cached_property
    def _normal_omegas(self) -> np.ndarray | None:
        """``omega(n_i, n_j)`` for all facet pairs (``None`` in odd dimension).

        Computed with :func:`~viterbo.geometry.symplectic.omega` itself, broadcast over the
        pairs, so every entry is exactly the value of the scalar call.
        """
        if self.dim % 2:
            return None
        normals = self.normals
        return np.asarray(omega(normals[:, None, :], normals[None, :, :]))

    def is_lagrangian_two_face(self, i: int, j: int, *, atol: float = 1e-9) -> bool:
        """Whether ``|omega(n_i, n_j)| <= atol`` (the 2-face ``F_i ∩ F_j`` is Lagrangian)."""
        omegas = self._normal_omegas
        if omegas is None:  # odd dimension: let omega raise its error
            return abs(float(omega(self.normals[i], self.normals[j]))) <= atol
        return abs(float(omegas[i, j])) <= atol

    # ---------------------------------------------------------------- transformations

    def translate(self, t: Any) -> Polytope:
        """The translate ``P + t`` (same vertex and facet order)."""
        shift = np.asarray(t, dtype=float)
        if shift.shape != (self.dim,) or not np.all(np.isfinite(shift)):
            raise InvalidInputError(f"translation must be a finite vector of shape ({self.dim},)")
        moved = Polytope(
            self.vertices + shift, self.normals, self.offsets + self.normals @ shift, self.incidence
        )
        # Translation keeps the faces and the normals: their cached data carries over.
        for name in _TRANSLATION_INVARIANT:
            if name in self.__dict__:
                moved.__dict__[name] = self.__dict__[name]
        return moved

    def scale(self, lam: float) -> Polytope:
        """The dilate ``lam * P`` about the origin, ``lam > 0``."""
        if not (
            isinstance(lam, int | float | np.floating | np.integer)
            and math.isfinite(lam)
            and lam > 0
        ):
            raise InvalidInputError(f"scale factor must be a positive finite number, got {lam!r}")
        return Polytope(
            self.vertices * float(lam), self.normals, self.offsets * float(lam), self.incidence
        )

    def linear_image(self, matrix: Any) -> Polytope:
        """The image ``{M x : x in P}`` of an invertible ``(d, d)`` matrix ``M``.

        Facet and vertex order are kept, except that in d = 2 an orientation-reversing ``M``
        reverses the vertex order (to stay counter-clockwise).
        """
        m = np.asarray(matrix, dtype=float)
        if m.shape != (self.dim, self.dim) or not np.all(np.isfinite(m)):
            raise InvalidInputError(f"matrix must be a finite ({self.dim}, {self.dim}) array")
        if np.linalg.cond(m) > 1e12:
            raise InvalidInputError("matrix is singular or numerically singular")
        vertices = self.vertices @ m.T
        # n . x <= h  <=>  (M^{-T} n) . (M x) <= h
        normals = np.linalg.solve(m.T, self.normals.T).T
        lengths = np.linalg.norm(normals, axis=1)
        normals = normals / lengths[:, None]
        offsets = self.offsets / lengths
        incidence = self.incidence
        if self.dim == 2 and np.linalg.det(m) < 0:
            order = _ccw_order(vertices)
            vertices, incidence = vertices[order], incidence[:, order]
        return Polytope(vertices, normals, offsets, incidence)

    def chebyshev_center(self) -> np.ndarray:
        """Centre of the largest inscribed ball (an LP); a well-inside interior point."""
        centre, _, status = _chebyshev(self.normals, self.offsets)
        if status != 0:
            raise GeometryError("Chebyshev-centre LP failed")
        return centre

    def translate_to_interior(self) -> tuple[Polytope, np.ndarray]:
        """A translate with the Chebyshev centre at the origin, and the shift ``t``.

        Returns
        -------
        (Polytope, numpy.ndarray)
            ``(P - t, t)``: the new polytope is ``old - t`` and has all offsets > 0.
        """
        centre = self.chebyshev_center()
        return self.translate(-centre), centre
