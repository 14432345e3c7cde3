"""Closed convex polygons in the plane, possibly degenerate (a segment or a single point).

A polygon is an ``(m, 2)`` array of its extreme points: counter-clockwise for ``m >= 3``,
``m = 2`` for a segment, ``m = 1`` for a point, ``m = 0`` for the empty set.  All predicates
take an absolute tolerance ``tol``: domains of the Reeb flow graph are *closed*, and a point
within ``tol`` of a domain counts as inside (every orbit found is verified afterwards, so this
leniency can only add candidates, never a wrong value).
"""

from __future__ import annotations

import numpy as np

EMPTY = np.zeros((0, 2))


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def convex_hull(points: np.ndarray, tol: float) -> np.ndarray:
    """Extreme points of a small 2D point set (monotone chain), ccw; degenerate sets allowed.

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
    pts = np.unique(np.asarray(points, dtype=float), axis=0)
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    extent = float(np.max(np.ptp(pts, axis=0))) if len(pts) > 1 else 0.0
    if extent <= tol:
        return pts.mean(axis=0, keepdims=True)
    area_tol = tol * extent

    def chain(seq: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2 and _cross(out[-2], out[-1], p) <= area_tol:
                out.pop()
            out.append(p)
        return out

    lower = chain(pts)
    upper = chain(pts[::-1])
    hull = lower[:-1] + upper[:-1]
    if len(hull) < 3:
        # Collinear: the two extreme points of the longest spread.
        direction = pts[-1] - pts[0]
        proj = pts @ direction
        return np.stack([pts[int(np.argmin(proj))], pts[int(np.argmax(proj))]])
    return np.array(hull)


def clip(poly: np.ndarray, normal: np.ndarray, offset: float, tol: float) -> np.ndarray:
    """``poly ∩ {y : normal . y <= offset}`` (closed; points within ``tol`` kept).

    ``normal`` need not be unit; ``tol`` is measured in the plane's length units.
    """
    m = len(poly)
    if m == 0:
        return poly
    scale = float(np.hypot(normal[0], normal[1]))
    if scale <= 1e-12:  # a constant constraint (no direction to clip along)
        return poly if offset >= -tol else EMPTY
    values = (poly @ normal - offset) / scale
    inside = values <= tol
    if inside.all():
        return poly
    if not inside.any():
        return EMPTY
    if m == 1:
        return EMPTY
    out: list[np.ndarray] = []
    for i in range(m if m > 2 else 1):
        j = (i + 1) % m
        p, q = poly[i], poly[j]
        vp, vq = values[i], values[j]
        if vp <= tol:
            out.append(p)
        if (vp <= tol) != (vq <= tol):
            # Cut at the boundary value tol (keeps the closed, lenient domain consistent).
            lam = (vp - tol) / (vp - vq)
            out.append(p + lam * (q - p))
    if m == 2 and values[1] <= tol:
        out.append(poly[1])
    return _dedupe(np.array(out), tol)


def _dedupe(poly: np.ndarray, tol: float) -> np.ndarray:
    """Drop consecutive (cyclic) duplicates; collapse tiny polygons to points/segments."""
    if len(poly) <= 1:
        return poly
    keep = [poly[0]]
    for p in poly[1:]:
        if np.max(np.abs(p - keep[-1])) > tol:
            keep.append(p)
    if len(keep) > 2 and np.max(np.abs(keep[-1] - keep[0])) <= tol:
        keep.pop()
    out = np.array(keep)
    if len(out) >= 3:
        # A sliver (all points on a line within tol) is a segment.
        return convex_hull(out, tol)
    return out


def halfplanes(poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """H-representation ``(normals (k, 2), offsets (k,))`` of a proper ccw polygon."""
    edges = np.roll(poly, -1, axis=0) - poly
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    offsets = np.einsum("ij,ij->i", normals, poly)
    return normals, offsets


def intersect(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """Intersection of two closed convex polygons (either may be degenerate)."""
    if len(a) == 0 or len(b) == 0:
        return EMPTY
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
    lam = np.clip(np.einsum("ij,ij->i", point - starts, seg) / np.maximum(lengths, 1e-300), 0.0, 1.0)
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
