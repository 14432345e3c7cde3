"""Compiled (numba) twins of the polygon routines in :mod:`viterbo.invariants.reeb_polygon`.

Same semantics, same tolerances, same branch structure, so the compiled tube search
(:mod:`viterbo.invariants.reeb_kernel`) and the Python reference search build the same tubes
(``tests/invariants/test_reeb_kernel.py`` compares them routine by routine on random and
degenerate inputs).  A polygon is a buffer ``(K, 2)`` plus a vertex count; routines write
their result into an output buffer and return the new count (0: empty).  Buffers are sized by
the caller: a clip adds at most one vertex per half-plane.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def cross3(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """``(b - a) x (c - a)``."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True)
def convex_hull(pts: np.ndarray, n: int, tol: float, out: np.ndarray) -> int:
    """Twin of ``reeb_polygon.convex_hull`` (``pts[:n]`` is left unchanged)."""
    if n == 0:
        return 0
    # Sort rows lexicographically (x, then y) and drop exact duplicates, like np.unique.
    work = pts[:n].copy()
    for i in range(1, n):
        x, y = work[i, 0], work[i, 1]
        j = i - 1
        while j >= 0 and (work[j, 0] > x or (work[j, 0] == x and work[j, 1] > y)):
            work[j + 1, 0] = work[j, 0]
            work[j + 1, 1] = work[j, 1]
            j -= 1
        work[j + 1, 0] = x
        work[j + 1, 1] = y
    k = 1
    for i in range(1, n):
        if work[i, 0] != work[k - 1, 0] or work[i, 1] != work[k - 1, 1]:
            work[k, 0] = work[i, 0]
            work[k, 1] = work[i, 1]
            k += 1
    extent = 0.0
    if k > 1:
        xmin, xmax, ymin, ymax = work[0, 0], work[0, 0], work[0, 1], work[0, 1]
        for i in range(1, k):
            xmin = min(xmin, work[i, 0])
            xmax = max(xmax, work[i, 0])
            ymin = min(ymin, work[i, 1])
            ymax = max(ymax, work[i, 1])
        extent = max(xmax - xmin, ymax - ymin)
    if extent <= tol:
        sx, sy = 0.0, 0.0
        for i in range(k):
            sx += work[i, 0]
            sy += work[i, 1]
        out[0, 0] = sx / k
        out[0, 1] = sy / k
        return 1
    area_tol = tol * extent
    chain = np.empty((2 * k + 2, 2))
    h = 0
    for i in range(k):  # lower chain
        while h >= 2 and cross3(chain[h - 2, 0], chain[h - 2, 1], chain[h - 1, 0],
                                chain[h - 1, 1], work[i, 0], work[i, 1]) <= area_tol:
            h -= 1
        chain[h, 0] = work[i, 0]
        chain[h, 1] = work[i, 1]
        h += 1
    lower_len = h
    h2 = 0
    upper = np.empty((k + 1, 2))
    for i in range(k - 1, -1, -1):  # upper chain
        while h2 >= 2 and cross3(upper[h2 - 2, 0], upper[h2 - 2, 1], upper[h2 - 1, 0],
                                 upper[h2 - 1, 1], work[i, 0], work[i, 1]) <= area_tol:
            h2 -= 1
        upper[h2, 0] = work[i, 0]
        upper[h2, 1] = work[i, 1]
        h2 += 1
    total = (lower_len - 1) + (h2 - 1)
    if total < 3:
        dx = work[k - 1, 0] - work[0, 0]
        dy = work[k - 1, 1] - work[0, 1]
        imin, imax = 0, 0
        pmin = work[0, 0] * dx + work[0, 1] * dy
        pmax = pmin
        for i in range(1, k):
            p = work[i, 0] * dx + work[i, 1] * dy
            if p < pmin:
                pmin, imin = p, i
            if p > pmax:
                pmax, imax = p, i
        out[0, 0], out[0, 1] = work[imin, 0], work[imin, 1]
        out[1, 0], out[1, 1] = work[imax, 0], work[imax, 1]
        return 2
    c = 0
    for i in range(lower_len - 1):
        out[c, 0], out[c, 1] = chain[i, 0], chain[i, 1]
        c += 1
    for i in range(h2 - 1):
        out[c, 0], out[c, 1] = upper[i, 0], upper[i, 1]
        c += 1
    return c


@njit(cache=True)
def dedupe(pts: np.ndarray, n: int, tol: float, out: np.ndarray) -> int:
    """Twin of ``reeb_polygon._dedupe`` (``pts`` and ``out`` must not alias)."""
    keep = np.empty((n, 2))
    keep[0, 0], keep[0, 1] = pts[0, 0], pts[0, 1]
    k = 1
    for i in range(1, n):
        if abs(pts[i, 0] - keep[k - 1, 0]) > tol or abs(pts[i, 1] - keep[k - 1, 1]) > tol:
            keep[k, 0], keep[k, 1] = pts[i, 0], pts[i, 1]
            k += 1
    if k > 2 and abs(keep[k - 1, 0] - keep[0, 0]) <= tol and abs(keep[k - 1, 1] - keep[0, 1]) <= tol:
        k -= 1
    if k >= 3:
        area2 = 0.0
        for i in range(k):
            prev = i - 1 if i > 0 else k - 1
            area2 += keep[prev, 0] * keep[i, 1] - keep[i, 0] * keep[prev, 1]
        xmin, xmax, ymin, ymax = keep[0, 0], keep[0, 0], keep[0, 1], keep[0, 1]
        for i in range(1, k):
            xmin = min(xmin, keep[i, 0])
            xmax = max(xmax, keep[i, 0])
            ymin = min(ymin, keep[i, 1])
            ymax = max(ymax, keep[i, 1])
        extent = max(xmax - xmin, ymax - ymin)
        if abs(area2) <= tol * extent:
            return convex_hull(keep, k, tol, out)
    for i in range(k):
        out[i, 0], out[i, 1] = keep[i, 0], keep[i, 1]
    return k


@njit(cache=True)
def _cut(pts: np.ndarray, m: int, values: np.ndarray, tol: float, out: np.ndarray) -> int:
    """Sutherland–Hodgman step shared by :func:`clip` and :func:`clip_many`."""
    c = 0
    last = m if m > 2 else 1
    for i in range(last):
        j = (i + 1) % m
        vp, vq = values[i], values[j]
        if vp <= tol:
            out[c, 0], out[c, 1] = pts[i, 0], pts[i, 1]
            c += 1
        if (vp <= tol) != (vq <= tol):
            lam = (vp - tol) / (vp - vq)
            out[c, 0] = pts[i, 0] + lam * (pts[j, 0] - pts[i, 0])
            out[c, 1] = pts[i, 1] + lam * (pts[j, 1] - pts[i, 1])
            c += 1
    if m == 2 and values[1] <= tol:
        out[c, 0], out[c, 1] = pts[1, 0], pts[1, 1]
        c += 1
    return c


@njit(cache=True)
def clip(poly: np.ndarray, m: int, nx: float, ny: float, offset: float, tol: float,
         out: np.ndarray) -> int:
    """Twin of ``reeb_polygon.clip`` (``normal`` need not be unit)."""
    if m == 0:
        return 0
    scale = math.hypot(nx, ny)
    if scale <= 1e-12:
        if offset >= -tol:
            out[:m] = poly[:m]
            return m
        return 0
    nx, ny, off = nx / scale, ny / scale, offset / scale
    values = np.empty(m)
    n_in = 0
    for i in range(m):
        values[i] = poly[i, 0] * nx + poly[i, 1] * ny - off
        if values[i] <= tol:
            n_in += 1
    if n_in == m:
        out[:m] = poly[:m]
        return m
    if n_in == 0 or m == 1:
        return 0
    tmp = np.empty((m + 2, 2))
    c = _cut(poly, m, values, tol, tmp)
    return dedupe(tmp, c, tol, out)


@njit(cache=True)
def clip_many(poly: np.ndarray, m: int, normals: np.ndarray, offsets: np.ndarray, lo: int,
              hi: int, tol: float, out: np.ndarray) -> int:
    """Twin of ``reeb_polygon.clip_many`` over the half-planes ``lo:hi`` (unit normals)."""
    cur = poly[:m].copy()
    k = m
    changed = False
    for h in range(lo, hi):
        nx, ny, off = normals[h, 0], normals[h, 1], offsets[h]
        values = np.empty(k)
        vmax, vmin = -np.inf, np.inf
        for i in range(k):
            v = cur[i, 0] * nx + cur[i, 1] * ny - off
            values[i] = v
            vmax = max(vmax, v)
            vmin = min(vmin, v)
        if vmax <= tol:
            continue
        if vmin > tol or k == 1:
            return 0
        changed = True
        nxt = np.empty((k + 2, 2))
        k = _cut(cur, k, values, tol, nxt)
        cur = nxt
    if not changed:
        out[:m] = poly[:m]
        return m
    return dedupe(cur, k, tol, out)


@njit(cache=True)
def distance_to(poly: np.ndarray, m: int, px: float, py: float) -> float:
    """Twin of ``reeb_polygon.distance_to``."""
    if m == 0:
        return np.inf
    if m == 1:
        return math.sqrt((px - poly[0, 0]) ** 2 + (py - poly[0, 1]) ** 2)
    if m >= 3:
        inside = True
        for i in range(m):
            j = (i + 1) % m
            ex, ey = poly[j, 0] - poly[i, 0], poly[j, 1] - poly[i, 1]
            if ey * px - ex * py - (ey * poly[i, 0] - ex * poly[i, 1]) > 0.0:
                inside = False
                break
        if inside:
            return 0.0
        count = m
    else:
        count = 1
    best = np.inf
    for i in range(count):
        j = (i + 1) % m
        sx, sy = poly[j, 0] - poly[i, 0], poly[j, 1] - poly[i, 1]
        length = max(sx * sx + sy * sy, 1e-300)
        lam = ((px - poly[i, 0]) * sx + (py - poly[i, 1]) * sy) / length
        lam = min(max(lam, 0.0), 1.0)
        cx, cy = poly[i, 0] + lam * sx - px, poly[i, 1] + lam * sy - py
        best = min(best, math.sqrt(cx * cx + cy * cy))
    return best


@njit(cache=True)
def intersect(a: np.ndarray, na: int, b: np.ndarray, nb: int, tol: float,
              out: np.ndarray) -> int:
    """Twin of ``reeb_polygon.intersect`` without precomputed half-planes."""
    if na == 0 or nb == 0:
        return 0
    if nb < na:
        a, na, b, nb = b, nb, a, na
    if nb >= 3:
        cur = a[:na].copy()
        k = na
        nxt = np.empty((na + nb + 2, 2))
        for i in range(nb):
            j = (i + 1) % nb
            ex, ey = b[j, 0] - b[i, 0], b[j, 1] - b[i, 1]
            k = clip(cur, k, ey, -ex, ey * b[i, 0] - ex * b[i, 1], tol, nxt)
            cur = nxt[:k].copy()
            if k == 0:
                break
        out[:k] = cur[:k]
        return k
    if nb == 1:
        if max(abs(a[0, 0] - b[0, 0]), abs(a[0, 1] - b[0, 1])) <= tol:
            out[:na] = a[:na]
            return na
        return 0
    if na == 1:
        if distance_to(b, nb, a[0, 0], a[0, 1]) <= tol:
            out[0, 0], out[0, 1] = a[0, 0], a[0, 1]
            return 1
        return 0
    dx, dy = b[1, 0] - b[0, 0], b[1, 1] - b[0, 1]
    nx, ny = dy, -dx
    off = nx * b[0, 0] + ny * b[0, 1]
    t1 = np.empty((na + 2, 2))
    t2 = np.empty((na + 4, 2))
    k = clip(a, na, nx, ny, off, tol, t1)
    k = clip(t1, k, -nx, -ny, -off, tol, t2)
    k = clip(t2, k, dx, dy, dx * b[1, 0] + dy * b[1, 1], tol, t1)
    return clip(t1, k, -dx, -dy, -(dx * b[0, 0] + dy * b[0, 1]), tol, out)


@njit(cache=True)
def line_section(poly: np.ndarray, m: int, nx: float, ny: float, offset: float, tol: float,
                 out: np.ndarray) -> int:
    """Twin of ``reeb_polygon.line_section``: ``poly ∩ {normal . y = offset}``."""
    t1 = np.empty((m + 2, 2))
    t2 = np.empty((m + 4, 2))
    k = clip(poly, m, nx, ny, offset, tol, t1)
    k = clip(t1, k, -nx, -ny, -offset, tol, t2)
    if k == 0:
        return 0
    length = math.sqrt(nx * nx + ny * ny)
    ux, uy = nx / length, ny / length
    level = offset / length
    for i in range(k):
        excess = t2[i, 0] * ux + t2[i, 1] * uy - level
        t2[i, 0] -= excess * ux
        t2[i, 1] -= excess * uy
    return convex_hull(t2, k, tol, out)
