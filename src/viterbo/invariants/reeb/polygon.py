"""Closed convex polygons in the plane, possibly degenerate (a segment or a single point).

A polygon is an ``(m, 2)`` array of its extreme points: counter-clockwise for ``m >= 3``,
``m = 2`` for a segment, ``m = 1`` for a point, ``m = 0`` for the empty set.  All predicates
take an absolute tolerance ``tol``: domains of the Reeb flow graph are *closed*, and a point
within ``tol`` of a domain counts as inside (every orbit found is verified afterwards, so this
leniency can only add candidates, never a wrong value).
"""

from __future__ import annotations

import math

import numpy as np

EMPTY = np.zeros((0, 2))


def convex_hull(points: np.ndarray, tol: float) -> np.ndarray:
    """Extreme points of a small 2D point set (monotone chain), ccw; degenerate sets allowed.

    Pure Python floats (a handful of points: numpy's per-call overhead would dominate).

    Parameters
    ----------
    points : numpy.ndarray
        ``(k, 2)`` points.
    tol : float
        Points closer than ``tol`` are merged; turns with area below ``tol * extent`` are
        treated as straight.

    Returns
    -------
    numpy.ndarray
        The hull as a polygon (see module docstring).
    """
    if len(points) == 0:
        return EMPTY
    # Exact duplicates removed, sorted by x then y (what np.unique(axis=0) gives).
    pts = sorted({(x, y) for x, y in np.asarray(points, dtype=float).tolist()})
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    extent = max(max(xs) - min(xs), max(ys) - min(ys)) if len(pts) > 1 else 0.0
    if extent <= tol:
        return np.array(pts).mean(axis=0, keepdims=True)
    area_tol = tol * extent

    def chain(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2:
                (ox, oy), (ax, ay) = out[-2], out[-1]
                if (ax - ox) * (p[1] - oy) - (ay - oy) * (p[0] - ox) > area_tol:
                    break
                out.pop()
            out.append(p)
        return out

    lower = chain(pts)
    upper = chain(pts[::-1])
    hull = lower[:-1] + upper[:-1]
    if len(hull) < 3:
        # Collinear: the two extreme points of the longest spread (rare: numpy is fine).
        array = np.array(pts)
        direction = array[-1] - array[0]
        proj = array @ direction
        return np.stack([array[int(np.argmin(proj))], array[int(np.argmax(proj))]])
    return np.array(hull)


def clip(poly: np.ndarray, normal: np.ndarray, offset: float, tol: float) -> np.ndarray:
    """``poly ∩ {y : normal . y <= offset}`` (closed; points within ``tol`` kept).

    ``normal`` need not be unit; ``tol`` is measured in the plane's length units.  Pure Python
    on purpose: polygons have a handful of vertices, where numpy's per-call overhead dominates.
    """
    m = len(poly)
    if m == 0:
        return poly
    nx, ny = float(normal[0]), float(normal[1])
    scale = math.hypot(nx, ny)
    if scale <= 1e-12:  # a constant constraint (no direction to clip along)
        return poly if offset >= -tol else EMPTY
    nx, ny, off = nx / scale, ny / scale, float(offset) / scale
    pts = poly.tolist()
    values = [x * nx + y * ny - off for x, y in pts]
    inside = [v <= tol for v in values]
    if all(inside):
        return poly
    if not any(inside):
        return EMPTY
    if m == 1:
        return EMPTY
    out: list[list[float]] = []
    for i in range(m if m > 2 else 1):
        j = (i + 1) % m
        vp, vq = values[i], values[j]
        if inside[i]:
            out.append(pts[i])
        if inside[i] != inside[j]:
            # Cut at the boundary value tol (keeps the closed, lenient domain consistent).
            lam = (vp - tol) / (vp - vq)
            (px, py), (qx, qy) = pts[i], pts[j]
            out.append([px + lam * (qx - px), py + lam * (qy - py)])
    if m == 2 and inside[1]:
        out.append(pts[1])
    return _dedupe(out, tol)


def _dedupe(points: list[list[float]], tol: float) -> np.ndarray:
    """Drop consecutive (cyclic) duplicates; collapse slivers to segments, specks to points."""
    keep = [points[0]]
    for p in points[1:]:
        if abs(p[0] - keep[-1][0]) > tol or abs(p[1] - keep[-1][1]) > tol:
            keep.append(p)
    if (
        len(keep) > 2
        and abs(keep[-1][0] - keep[0][0]) <= tol
        and abs(keep[-1][1] - keep[0][1]) <= tol
    ):
        keep.pop()
    if len(keep) >= 3:
        # A sliver (twice the area below tol times the longest extent) is a segment.
        area2 = 0.0
        for k in range(len(keep)):
            (x0, y0), (x1, y1) = keep[k - 1], keep[k]
            area2 += x0 * y1 - x1 * y0
        xs = [p[0] for p in keep]
        ys = [p[1] for p in keep]
        extent = max(max(xs) - min(xs), max(ys) - min(ys))
        if abs(area2) <= tol * extent:
            return convex_hull(np.array(keep), tol)
    return np.array(keep)


def halfplanes(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H-representation ``(normals (k, 2), offsets (k,))`` of a proper ccw polygon."""
    edges = np.roll(poly, -1, axis=0) - poly
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    offsets = np.einsum("ij,ij->i", normals, poly)
    return normals, offsets


def clip_many(poly: np.ndarray, normals: np.ndarray, offsets: np.ndarray, tol: float) -> np.ndarray:
    """``poly`` clipped by the half-planes ``normals[k] . y <= offsets[k]`` (unit normals).

    Sutherland–Hodgman in plain Python floats (a handful of vertices and half-planes: numpy's
    per-call overhead would dominate).
    """
    return clip_rows(poly, normals.tolist(), offsets.tolist(), tol)


def clip_rows(
    poly: np.ndarray, normals: list[list[float]], offsets: list[float], tol: float
) -> np.ndarray:
    """:func:`clip_many` with the half-planes given as Python lists (no conversion cost)."""
    pts = poly.tolist()
    changed = False
    for (nx, ny), off in zip(normals, offsets, strict=True):
        values = [x * nx + y * ny - off for x, y in pts]
        if max(values) <= tol:
            continue
        if min(values) > tol or len(pts) == 1:
            return EMPTY
        changed = True
        m = len(pts)
        out = []
        for i in range(m if m > 2 else 1):
            j = (i + 1) % m
            vp, vq = values[i], values[j]
            if vp <= tol:
                out.append(pts[i])
            if (vp <= tol) != (vq <= tol):
                lam = (vp - tol) / (vp - vq)
                (px, py), (qx, qy) = pts[i], pts[j]
                out.append([px + lam * (qx - px), py + lam * (qy - py)])
        if m == 2 and values[1] <= tol:
            out.append(pts[1])
        pts = out
    if not changed:
        return poly
    return _dedupe(pts, tol)


def unit_halfplanes(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Unit-normal H-representation of a proper polygon, ``None`` for degenerate ones."""
    if len(poly) < 3:
        return None
    normals, offsets = halfplanes(poly)
    lengths = np.linalg.norm(normals, axis=1)
    return normals / lengths[:, None], offsets / lengths


def unit_halfplanes_pooled(
    points: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`unit_halfplanes` of many polygons stacked in one array (same formulas and bits).

    Parameters
    ----------
    points : numpy.ndarray
        ``(D, 2)``: polygon ``k`` is ``points[starts[k]:starts[k + 1]]``.
    starts : numpy.ndarray
        ``(K + 1,)`` row bounds.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        Unit normals ``(D, 2)`` and offsets ``(D,)`` row by row (polygon ``k``'s half-planes
        are its rows), and which polygons are proper (``(K,)`` bool); the rows of the
        degenerate ones (fewer than 3 points) are meaningless.
    """
    sizes = np.diff(starts)
    proper = sizes >= 3
    following = np.arange(len(points)) + 1
    ends = starts[1:][sizes > 0]
    following[ends - 1] = starts[:-1][sizes > 0]  # each polygon's last vertex wraps to its first
    edges = points[following] - points
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    offsets = np.einsum("ij,ij->i", normals, points)
    lengths = np.linalg.norm(normals, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate rows: length 0
        return normals / lengths[:, None], offsets / lengths, proper


def intersect(
    a: np.ndarray,
    b: np.ndarray,
    tol: float,
    b_halfplanes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Intersection of two closed convex polygons (either may be degenerate).

    ``b_halfplanes`` (from :func:`unit_halfplanes`) speeds up the common case of a fixed,
    proper ``b``.
    """
    if len(a) == 0 or len(b) == 0:
        return EMPTY
    if b_halfplanes is not None:
        return clip_many(a, b_halfplanes[0], b_halfplanes[1], tol)
    if len(b) < len(a):
        a, b = b, a
    if len(b) >= 3:
        normals, offsets = halfplanes(b)
        out = a
        for k in range(len(b)):
            out = clip(out, normals[k], offsets[k], tol)
            if len(out) == 0:
                break
        return out
    # Both degenerate: points and segments.
    if len(b) == 1:
        return a if np.max(np.abs(a[0] - b[0])) <= tol else EMPTY
    if len(a) == 1:
        return a if distance_to(b, a[0]) <= tol else EMPTY
    direction = b[1] - b[0]
    normal = np.array([direction[1], -direction[0]])
    off = float(normal @ b[0])
    out = clip(a, normal, off, tol)
    out = clip(out, -normal, -off, tol)
    out = clip(out, direction, float(direction @ b[1]), tol)
    return clip(out, -direction, -float(direction @ b[0]), tol)


def distance_to(poly: np.ndarray, point: np.ndarray) -> float:
    """Euclidean distance from ``point`` to the closed polygon (``inf`` when empty)."""
    m = len(poly)
    if m == 0:
        return float("inf")
    if m == 1:
        return float(np.linalg.norm(point - poly[0]))
    if m >= 3:
        normals, offsets = halfplanes(poly)
        if np.all(normals @ point - offsets <= 0.0):
            return 0.0
        starts, ends = poly, np.roll(poly, -1, axis=0)
    else:
        starts, ends = poly[0:1], poly[1:2]
    seg = ends - starts
    lengths = np.einsum("ij,ij->i", seg, seg)
    lam = np.clip(
        np.einsum("ij,ij->i", point - starts, seg) / np.maximum(lengths, 1e-300), 0.0, 1.0
    )
    closest = starts + lam[:, None] * seg
    return float(np.min(np.linalg.norm(closest - point, axis=1)))


def line_section(poly: np.ndarray, normal: np.ndarray, offset: float, tol: float) -> np.ndarray:
    """``poly ∩ {normal . y = offset}`` (closed, within ``tol``), as a degenerate polygon."""
    out = clip(poly, normal, offset, tol)
    out = clip(out, -normal, -offset, tol)
    if len(out) == 0:
        return out
    # Project the thin sliver onto the line.
    unit = normal / np.linalg.norm(normal)
    projected = out - np.outer(out @ unit - offset / np.linalg.norm(normal), unit)
    return convex_hull(projected, tol)
