"""Volume of a polytope by two independent methods, and the area of a polygon.

* :func:`volume_qhull` -- Qhull's volume of the convex hull of the vertices (V-representation).
* :func:`volume_cone_decomposition` -- iterated cone decomposition of the H-representation
  and the face lattice: ``vol_d(P) = (1/d) sum_F h_F vol_{d-1}(F)``, with ``h_F`` the distance
  from an interior point to facet ``F``, recursively down to polygons (shoelace). It shares
  no code with Qhull's triangulation, so the two cross-check each other.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull

from viterbo.geometry.errors import InvalidInputError
from viterbo.geometry.polytope import Polytope, _affine_ranks


def polygon_area(vertices_ccw: np.ndarray) -> float:
    """Shoelace area of a polygon given by its vertices in counter-clockwise order.

    Parameters
    ----------
    vertices_ccw : array_like
        ``(m, 2)`` vertices in counter-clockwise order (clockwise gives a negative area).

    Returns
    -------
    float
        The signed area.
    """
    v = np.asarray(vertices_ccw, dtype=float)
    if v.ndim != 2 or v.shape[1] != 2 or len(v) < 3:
        raise InvalidInputError(f"polygon_area needs an (m, 2) array with m >= 3, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise InvalidInputError("polygon_area: vertices contain NaN or infinite entries")
    # Centre first so that the cross products do not cancel for far-away polygons.
    v = v - v.mean(axis=0)
    w = np.roll(v, -1, axis=0)
    return float(0.5 * np.sum(v[:, 0] * w[:, 1] - v[:, 1] * w[:, 0]))


def volume_qhull(polytope: Polytope) -> float:
    """Volume of the convex hull of the vertices, from Qhull's triangulation.

    In dimension 2 this is the area.
    """
    vertices = polytope.vertices
    return float(ConvexHull(vertices - vertices.mean(axis=0)).volume)


def _planar_areas(vertices: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Areas of the convex polygons ``conv(vertices[mask])`` lying in 2-planes (one per row)."""
    return _planar_moments(vertices, masks)[0]


def _planar_moments(vertices: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Areas and area centroids of the planar convex polygons ``conv(vertices[mask])``.

    One batched pass: every polygon is padded to the largest vertex count by repeating its
    first vertex (repeats sort next to it and add zero-length edges); an orthonormal frame of
    each plane by Gram-Schmidt on two centred vertices (the second farthest from the first's
    line, so the frame is well conditioned); angular sort around the vertex centroid;
    shoelace for the area and its first moments for the centroid.
    """
    counts = masks.sum(axis=1)
    width = int(counts.max())
    rows, cols = np.nonzero(masks)
    slots = np.cumsum(masks, axis=1)[rows, cols] - 1  # position of each vertex in its row
    columns = np.empty((len(masks), width), dtype=np.intp)
    columns[:] = cols[np.searchsorted(rows, np.arange(len(masks)))][:, None]  # first vertex
    columns[rows, slots] = cols
    points = vertices[columns]  # (k, width, d)
    centroids = (masks.astype(float) @ vertices) / counts[:, None]
    centred = points - centroids[:, None, :]
    # A row whose vertices all coincide (a 2-face shrunk to a point, met by a search at a
    # degenerate trial point) has no first direction either: area 0, not NaN and a warning.
    norms = np.linalg.norm(centred[:, 0, :], axis=1)
    first = np.divide(
        centred[:, 0, :],
        norms[:, None],
        out=np.zeros_like(centred[:, 0, :]),
        where=norms[:, None] > 0,
    )
    residual = centred - np.einsum("kcd,kd->kc", centred, first)[..., None] * first[:, None, :]
    farthest = np.argmax(np.einsum("kcd,kcd->kc", residual, residual), axis=1)
    second = residual[np.arange(len(masks)), farthest]
    # A degenerate (collinear) row has no second direction: its area is 0, not NaN.
    lengths = np.linalg.norm(second, axis=1)
    second = np.divide(
        second, lengths[:, None], out=np.zeros_like(second), where=lengths[:, None] > 0
    )
    x = np.einsum("kcd,kd->kc", centred, first)
    y = np.einsum("kcd,kd->kc", centred, second)
    order = np.argsort(np.arctan2(y, x), axis=1)
    x = np.take_along_axis(x, order, axis=1)
    y = np.take_along_axis(y, order, axis=1)
    x_next, y_next = np.roll(x, -1, axis=1), np.roll(y, -1, axis=1)
    cross = x * y_next - y * x_next
    signed = 0.5 * cross.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero-area row keeps its centroid
        cx = np.where(signed != 0, ((x + x_next) * cross).sum(axis=1) / (6.0 * signed), 0.0)
        cy = np.where(signed != 0, ((y + y_next) * cross).sum(axis=1) / (6.0 * signed), 0.0)
    area_centroids = centroids + cx[:, None] * first + cy[:, None] * second
    return np.abs(signed), area_centroids


def facet_measures(polytope: Polytope) -> tuple[np.ndarray, np.ndarray]:
    """3-volumes and centroids of the facets of a 4-dimensional polytope.

    Each facet is cut into pyramids from its vertex centroid over its 2-faces (polygons);
    a pyramid over a planar base has volume ``area * height / 3`` and its centroid three
    quarters of the way from the apex to the base's centroid. These are the derivatives of
    the volume: ``d vol / d h_i = vol_3(F_i)`` and, for the normal, ``d vol / d n_i =
    -vol_3(F_i) * centroid(F_i)`` (the search's gradient needs both).

    Returns
    -------
    (volumes, centroids) : ``(m,)`` and ``(m, 4)`` arrays, one row per facet.
    """
    if polytope.dim != 4:
        raise InvalidInputError(
            f"facet_measures needs a 4-dimensional polytope, got {polytope.dim}"
        )
    # A degenerate facet (all 2-faces collinear) has volume 0 and a NaN centroid; the callers
    # (the search) refuse such points, so the 0/0 must not print warnings for every trial.
    with np.errstate(divide="ignore", invalid="ignore"):
        return _facet_measures_4d(polytope)


def _facet_measures_4d(polytope: Polytope) -> tuple[np.ndarray, np.ndarray]:
    normals, vertices, incidence = polytope.normals, polytope.vertices, polytope.incidence
    pairs = np.array(polytope.two_faces(), dtype=int).reshape(-1, 2)
    areas, centres = _planar_moments(vertices, incidence[pairs[:, 0]] & incidence[pairs[:, 1]])
    inner = np.concatenate([pairs[:, 0], pairs[:, 1]])
    outer = np.concatenate([pairs[:, 1], pairs[:, 0]])
    areas, centres = np.concatenate([areas, areas]), np.concatenate([centres, centres])
    apexes = (incidence.astype(float) @ vertices) / incidence.sum(axis=1)[:, None]
    # Unit normal of the 2-face within the hyperplane of F_inner, as in the cone volume.
    ridge_normals = (
        normals[outer]
        - np.einsum("kd,kd->k", normals[outer], normals[inner])[:, None] * normals[inner]
    )
    ridge_normals /= np.linalg.norm(ridge_normals, axis=1)[:, None]
    heights = np.einsum("kd,kd->k", ridge_normals, centres - apexes[inner])
    pyramids = np.abs(heights) * areas / 3.0
    volumes = np.zeros(len(normals))
    np.add.at(volumes, inner, pyramids)
    moments = np.zeros_like(normals)
    np.add.at(
        moments, inner, pyramids[:, None] * (apexes[inner] + 0.75 * (centres - apexes[inner]))
    )
    return volumes, moments / volumes[:, None]


def _cone_volume_4d(polytope: Polytope, centre: np.ndarray) -> float:
    """Vectorised cone decomposition in R^4: facets -> 2-faces (polygons, shoelace)."""
    normals, offsets, vertices = polytope.normals, polytope.offsets, polytope.vertices
    pairs = np.array(polytope.two_faces(), dtype=int).reshape(-1, 2)
    heights = offsets - normals @ centre  # distance from the centre to each facet
    # Each 2-face F_i ∩ F_j is a facet of both F_i and F_j: count it from both sides.
    inner = np.concatenate([pairs[:, 0], pairs[:, 1]])
    outer = np.concatenate([pairs[:, 1], pairs[:, 0]])
    areas = _planar_areas(
        vertices, polytope.incidence[pairs[:, 0]] & polytope.incidence[pairs[:, 1]]
    )
    areas = np.concatenate([areas, areas])
    # Within the hyperplane of F_inner: the foot of the centre, and the unit normal of the
    # 2-face (the part of n_outer orthogonal to n_inner).
    feet = centre + heights[inner, None] * normals[inner]
    ridge_normals = (
        normals[outer]
        - np.einsum("kd,kd->k", normals[outer], normals[inner])[:, None] * normals[inner]
    )
    ridge_normals /= np.linalg.norm(ridge_normals, axis=1)[:, None]
    ridge_points = vertices[
        np.argmax(polytope.incidence[inner] & polytope.incidence[outer], axis=1)
    ]
    ridge_heights = np.einsum("kd,kd->k", ridge_normals, ridge_points - feet)
    facet_volumes = np.zeros(len(normals))
    np.add.at(facet_volumes, inner, ridge_heights * areas / 3.0)
    return float(np.sum(heights * facet_volumes) / 4.0)


def _face_volume(
    vertices: np.ndarray,
    mask: np.ndarray,
    facet_masks: np.ndarray,
    dim: int,
    tol: float,
    cache: dict[bytes, float],
) -> float:
    """``dim``-volume of the face ``conv(vertices[mask])`` by recursive cone decomposition."""
    key = mask.tobytes()
    if key in cache:  # a k-face lies in several (k+1)-faces: compute it once
        return cache[key]
    points = vertices[mask]
    if dim == 1:
        return float(np.max(np.linalg.norm(points - points[0], axis=1)))
    if dim == 2:
        return float(_planar_areas(vertices, mask[None, :])[0])
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    basis = vt[:dim]  # orthonormal basis of the face's direction space
    sub_masks = np.unique(facet_masks & mask, axis=0)
    sub_masks = sub_masks[_affine_ranks(vertices, sub_masks, tol) == dim - 1]
    total = 0.0
    for sub in sub_masks:
        sub_points = vertices[sub]
        sub_centre = sub_points.mean(axis=0)
        # Height: the component of (sub_centre - centre) in the face, orthogonal to the subface.
        _, _, sub_vt = np.linalg.svd((sub_points - sub_centre) @ basis.T, full_matrices=False)
        offset = (sub_centre - centre) @ basis.T
        offset = offset - sub_vt[: dim - 1].T @ (sub_vt[: dim - 1] @ offset)
        sub_volume = _face_volume(vertices, sub, facet_masks, dim - 1, tol, cache)
        total += float(np.linalg.norm(offset)) * sub_volume
    cache[key] = total / dim
    return cache[key]


def volume_cone_decomposition(polytope: Polytope) -> float:
    """Volume by iterated cone decomposition of the H-representation.

    ``vol_d(P) = (1/d) sum_F h_F vol_{d-1}(F)`` with ``h_F`` the distance from the vertex
    centroid (an interior point) to facet ``F``; the facet volumes recurse over the face lattice (from the
    facet-vertex incidence) down to polygons, whose areas use the shoelace formula. In R^4 the
    recursion is one vectorised pass over the 2-faces; other dimensions use a generic
    (slower) recursion.

    Parameters
    ----------
    polytope : Polytope

    Returns
    -------
    float
        The d-dimensional volume (the area in d = 2).
    """
    if polytope.dim == 2:
        return polygon_area(polytope.vertices)
    centre = polytope.vertices.mean(axis=0)  # interior: vertex centroid of a full-dim polytope
    if polytope.dim == 4:
        return _cone_volume_4d(polytope, centre)
    mask = np.ones(polytope.num_vertices, dtype=bool)
    return _face_volume(
        polytope.vertices, mask, polytope.incidence, polytope.dim, polytope.tolerance(), {}
    )
