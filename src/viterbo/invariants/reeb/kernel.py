"""Compiled (numba) engine of the Chaidez–Hutchings tube search.

The search of :class:`viterbo.invariants.reeb.search.TubeSearch` spends its time in tens of
thousands of tiny steps (clip a polygon of a handful of vertices, compose 2x2 maps, advance the
rotation, evaluate the return-time bound over the vertices), where the per-call overhead of
numpy dominates: about 0.15 ms per tube in Python.  This module runs the same loop compiled:
the same tubes, the same prunings in the same order, the same heap key and statistics (up to
near-ties that last-bit rounding orders differently: BLAS uses FMA, the kernel does not).
Only rare events leave the compiled loop:

* a tube that returns to its start node with a fixed point of plausible action (``CLOSE``;
  the kernel finds the fixed point and drops closures without one, see ``_closes``): the
  Python side adds the rotation number, verifies the orbit and returns the new pruning bound
  (``TubeSearch._orbit_at`` / ``on_orbit``);
* every ``chunk`` expansions (``YIELD``): the Python side checks the time budget;
* when the tube arrays are nearly full (``GROW``): the Python side enlarges them.

The kernel is a resumable state machine: everything it needs between calls lives in arrays
(the tubes, the heap and a small cursor), so a ``CLOSE`` in the middle of an expansion resumes
with the next out-edge exactly where Python would have continued.

Tube columns (``ti``: ints, ``tf``: floats) are listed below; a tube's polygon lives in the
shared ``pool`` at rows ``PSTART : PSTART + PLEN``.  Tubes are append-only: a child keeps its
parent's index, which is all that is needed to rebuild the path (edges, visited facets).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from viterbo.invariants.reeb.graph import Edge, EdgeArrays, FlowGraph, row_bounds, stack_rows
from viterbo.invariants.reeb.rotation import RotationTracker
from viterbo.invariants.reeb.search import (
    BOUND_CONDITION_MAX,
    COMPOSED_ERROR,
    CONDITION_MAX,
    ORDER_RTOL,
    PATH_BUDGET,
    ROTATION_TOL,
    SINGULAR_RTOL,
    TIE_RTOL,
    Orbit,
    SearchTooLarge,
    Tube,
    TubeSearch,
)
from viterbo.invariants.registry import check_work

# ---------------------------------------------------------------------------------------------
# Polygon twins of :mod:`viterbo.invariants.reeb.polygon`: same semantics, same tolerances, same
# branch structure, so both engines build the same tubes (the tests compare them routine by
# routine).  A polygon is a buffer ``(K, 2)`` plus a vertex count; each routine writes its result
# into an output buffer and returns the new count (0: empty).  They live in this module, not
# their own: numba's cache only notices edits to the file of the function it compiled, so a
# twin edited in another file would leave a stale ``advance`` in the cache.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _room(out: np.ndarray, count: int) -> None:
    """Refuse to write ``count`` points into a smaller buffer (numba does not bounds-check)."""
    if count > out.shape[0]:
        raise ValueError("reeb kernel: polygon buffer too small")


@njit(cache=True)
def _extent(pts: np.ndarray, k: int) -> float:
    """Largest coordinate range of ``pts[:k]`` (``np.max(np.ptp(...))``)."""
    xmin, xmax, ymin, ymax = pts[0, 0], pts[0, 0], pts[0, 1], pts[0, 1]
    for i in range(1, k):
        xmin = min(xmin, pts[i, 0])
        xmax = max(xmax, pts[i, 0])
        ymin = min(ymin, pts[i, 1])
        ymax = max(ymax, pts[i, 1])
    return max(xmax - xmin, ymax - ymin)


@njit(cache=True)
def cross3(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """``(b - a) x (c - a)``."""
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


@njit(cache=True)
def _monotone_chain(
    pts: np.ndarray, k: int, backwards: bool, area_tol: float, chain: np.ndarray
) -> int:
    """One half of Andrew's monotone chain over the sorted ``pts[:k]``; returns its length."""
    h = 0
    for step in range(k):
        i = k - 1 - step if backwards else step
        while (
            h >= 2
            and cross3(
                chain[h - 2, 0],
                chain[h - 2, 1],
                chain[h - 1, 0],
                chain[h - 1, 1],
                pts[i, 0],
                pts[i, 1],
            )
            <= area_tol
        ):
            h -= 1
        chain[h, 0] = pts[i, 0]
        chain[h, 1] = pts[i, 1]
        h += 1
    return h


@njit(cache=True)
def convex_hull(pts: np.ndarray, n: int, tol: float, out: np.ndarray) -> int:
    """Twin of ``reeb.polygon.convex_hull`` (``pts[:n]`` is left unchanged)."""
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
    extent = _extent(work, k) if k > 1 else 0.0
    _room(out, k)
    if extent <= tol:
        sx, sy = 0.0, 0.0
        for i in range(k):
            sx += work[i, 0]
            sy += work[i, 1]
        out[0, 0] = sx / k
        out[0, 1] = sy / k
        return 1
    area_tol = tol * extent
    chain = np.empty((k + 1, 2))
    lower_len = _monotone_chain(work, k, False, area_tol, chain)
    upper = np.empty((k + 1, 2))
    h2 = _monotone_chain(work, k, True, area_tol, upper)
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
    """Twin of ``reeb.polygon._dedupe`` (``pts`` and ``out`` must not alias)."""
    keep = np.empty((n, 2))
    keep[0, 0], keep[0, 1] = pts[0, 0], pts[0, 1]
    k = 1
    for i in range(1, n):
        if abs(pts[i, 0] - keep[k - 1, 0]) > tol or abs(pts[i, 1] - keep[k - 1, 1]) > tol:
            keep[k, 0], keep[k, 1] = pts[i, 0], pts[i, 1]
            k += 1
    if (
        k > 2
        and abs(keep[k - 1, 0] - keep[0, 0]) <= tol
        and abs(keep[k - 1, 1] - keep[0, 1]) <= tol
    ):
        k -= 1
    if k >= 3:
        area2 = 0.0
        for i in range(k):
            prev = i - 1 if i > 0 else k - 1
            area2 += keep[prev, 0] * keep[i, 1] - keep[i, 0] * keep[prev, 1]
        if abs(area2) <= tol * _extent(keep, k):
            return convex_hull(keep, k, tol, out)
    _room(out, k)
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
def clip(
    poly: np.ndarray, m: int, nx: float, ny: float, offset: float, tol: float, out: np.ndarray
) -> int:
    """Twin of ``reeb.polygon.clip`` (``normal`` need not be unit)."""
    if m == 0:
        return 0
    scale = math.hypot(nx, ny)
    if scale <= 1e-12:
        if offset >= -tol:
            _room(out, m)
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
        _room(out, m)
        out[:m] = poly[:m]
        return m
    if n_in == 0 or m == 1:
        return 0
    # A line can cross a (numerically) non-convex speck at every edge: up to 2 m points.
    tmp = np.empty((2 * m + 2, 2))
    c = _cut(poly, m, values, tol, tmp)
    return dedupe(tmp, c, tol, out)


@njit(cache=True)
def clip_many(
    poly: np.ndarray,
    m: int,
    normals: np.ndarray,
    offsets: np.ndarray,
    lo: int,
    hi: int,
    tol: float,
    out: np.ndarray,
) -> int:
    """Twin of ``reeb.polygon.clip_many`` over the half-planes ``lo:hi`` (unit normals)."""
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
        nxt = np.empty((2 * k + 2, 2))
        k = _cut(cur, k, values, tol, nxt)
        cur = nxt
    if not changed:
        _room(out, m)
        out[:m] = poly[:m]
        return m
    return dedupe(cur, k, tol, out)


@njit(cache=True)
def hull_batch(pool: np.ndarray, starts: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`convex_hull` of many point sets (rows ``starts[i]:starts[i+1]`` of ``pool``).

    Returns the hulls stacked and their row bounds (the flow graph's node polygons: one call
    instead of one Python hull per node).
    """
    n = len(starts) - 1
    out = np.empty((len(pool) + n, 2))
    out_starts = np.zeros(n + 1, dtype=np.int64)
    row = 0
    for i in range(n):
        m = starts[i + 1] - starts[i]
        k = convex_hull(pool[starts[i] : starts[i + 1]], m, tol, out[row : row + m + 1])
        row += k
        out_starts[i + 1] = row
    return out[:row].copy(), out_starts


@njit(cache=True)
def edge_constraints(
    basis_normals: np.ndarray,
    n_dot_r: np.ndarray,
    time_grad: np.ndarray,
    grad_norm: np.ndarray,
    time0: np.ndarray,
    origin_heights: np.ndarray,
    offsets: np.ndarray,
    facets: np.ndarray,
    next_facets: np.ndarray,
    pool: np.ndarray,
    starts: np.ndarray,
    sources: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The elementwise part of ``graph._edge_batch``, fused over candidates and facets.

    The products and sums (``basis_normals = U n_f``, ``n_dot_r``, ``origin_heights =
    <n_f, o>``, ``grad_norm = |time_grad|``) come from numpy; this does the rest with the same
    operations in the same order (numba contracts no multiply-add), so every bit equals the
    numpy expressions it replaced: unit constraint rows, the constraints clip_many must see,
    and the domains already empty on the source polygon (``pool[starts[s]:starts[s+1]]``).
    """
    count, facet_count = n_dot_r.shape
    unit_x = np.empty((count, facet_count))
    unit_y = np.empty((count, facet_count))
    unit_offsets = np.empty((count, facet_count))
    active = np.zeros((count, facet_count), dtype=np.bool_)
    empty = np.zeros(count, dtype=np.bool_)
    for e in range(count):
        lo, hi = starts[sources[e]], starts[sources[e] + 1]
        radius = 0.0
        for i in range(lo, hi):
            radius = max(radius, abs(pool[i, 0]), abs(pool[i, 1]))
        tg0, tg1 = time_grad[e, 0], time_grad[e, 1]
        for f in range(facet_count):
            b0, b1, ndr = basis_normals[e, 0, f], basis_normals[e, 1, f], n_dot_r[e, f]
            gx = b0 + ndr * tg0
            gy = b1 + ndr * tg1
            cons = (offsets[f] - origin_heights[e, f]) - time0[e] * ndr
            scale = math.sqrt(gx * gx + gy * gy)
            terms = math.sqrt(b0 * b0 + b1 * b1) + abs(ndr) * grad_norm[e]
            constant = scale <= 1e-12 * max(terms, 1.0)
            if f == facets[e] or f == next_facets[e]:
                constant, cons = True, 0.0
            safe = 1.0 if constant else scale
            ux, uy, uo = gx / safe, gy / safe, cons / safe
            unit_x[e, f], unit_y[e, f], unit_offsets[e, f] = ux, uy, uo
            if constant:
                if cons < -tol:
                    empty[e] = True
                continue
            highest, lowest = -np.inf, np.inf
            for i in range(lo, hi):
                value = (pool[i, 0] * ux + pool[i, 1] * uy) - uo
                highest = max(highest, value)
                lowest = min(lowest, value)
            margin = 1e-12 * ((radius + abs(uo)) + tol)
            active[e, f] = highest > tol - margin
            if lowest > tol + margin:
                empty[e] = True
    return unit_x, unit_y, unit_offsets, active, empty


@njit(cache=True)
def clip_batch(
    pool: np.ndarray,
    starts: np.ndarray,
    which: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    bounds: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clip_many` of many polygons: polygon ``which[c]`` (rows ``starts[w]:starts[w+1]``
    of ``pool``) by the half-planes ``bounds[c]:bounds[c+1]``, for every ``c``.

    Returns the clipped polygons stacked, and their row bounds (the flow graph's edge domains:
    one call instead of one Python clip per candidate edge).
    """
    n = len(which)
    room = 0
    for c in range(n):
        w = which[c]
        room += 4 * (starts[w + 1] - starts[w] + bounds[c + 1] - bounds[c]) + 8
    out = np.empty((room, 2))
    out_starts = np.zeros(n + 1, dtype=np.int64)
    row = 0
    for c in range(n):
        w = which[c]
        m = starts[w + 1] - starts[w]
        size = 4 * (m + bounds[c + 1] - bounds[c]) + 8
        k = clip_many(
            pool[starts[w] : starts[w + 1]],
            m,
            normals,
            offsets,
            bounds[c],
            bounds[c + 1],
            tol,
            out[row : row + size],
        )
        row += k
        out_starts[c + 1] = row
    return out[:row].copy(), out_starts


@njit(cache=True)
def distance_to(poly: np.ndarray, m: int, px: float, py: float) -> float:
    """Twin of ``reeb.polygon.distance_to``."""
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
def intersect(a: np.ndarray, na: int, b: np.ndarray, nb: int, tol: float, out: np.ndarray) -> int:
    """Twin of ``reeb.polygon.intersect`` without precomputed half-planes."""
    if na == 0 or nb == 0:
        return 0
    if nb < na:
        a, na, b, nb = b, nb, a, na
    if nb >= 3:
        cur = a[:na].copy()
        k = na
        for i in range(nb):
            j = (i + 1) % nb
            ex, ey = b[j, 0] - b[i, 0], b[j, 1] - b[i, 1]
            nxt = np.empty((2 * k + 2, 2))
            k = clip(cur, k, ey, -ex, ey * b[i, 0] - ex * b[i, 1], tol, nxt)
            cur = nxt[:k].copy()
            if k == 0:
                break
        _room(out, k)
        out[:k] = cur[:k]
        return k
    if nb == 1:
        if max(abs(a[0, 0] - b[0, 0]), abs(a[0, 1] - b[0, 1])) <= tol:
            _room(out, na)
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
    t1 = np.empty((8 * na + 8, 2))
    t2 = np.empty((8 * na + 8, 2))
    k = clip(a, na, nx, ny, off, tol, t1)
    k = clip(t1, k, -nx, -ny, -off, tol, t2)
    k = clip(t2, k, dx, dy, dx * b[1, 0] + dy * b[1, 1], tol, t1)
    return clip(t1, k, -dx, -dy, -(dx * b[0, 0] + dy * b[0, 1]), tol, out)


@njit(cache=True)
def line_section(
    poly: np.ndarray, m: int, nx: float, ny: float, offset: float, tol: float, out: np.ndarray
) -> int:
    """Twin of ``reeb.polygon.line_section``: ``poly ∩ {normal . y = offset}``."""
    t1 = np.empty((2 * m + 2, 2))
    t2 = np.empty((4 * m + 6, 2))
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


# ---------------------------------------------------------------------------------------------
# The search.
# ---------------------------------------------------------------------------------------------

# Integer tube columns.
T_START, T_NODE, T_PARENT, T_EDGE, T_DEPTH, T_PSTART, T_PLEN = range(7)
INT_COLUMNS = 7
# Float tube columns: linear (4, row-major), shift (2), inverse (4), action gradient (2),
# action constant, rotation matrix (4, row-major), lifted angle of e1, lower bound, how far the
# step into this tube moved its points at most (``Tube.moves``), the composed map's condition
# ``Tube.kappa`` and the sum of least edge times ``Tube.path_min``.
F_LIN, F_SHIFT, F_INV, F_GRAD, F_CONST, F_ROT, F_THETA, F_LOWER, F_MOVE, F_KAPPA, F_PATHMIN = (
    0,
    4,
    6,
    10,
    12,
    13,
    17,
    18,
    19,
    20,
    21,
)
FLOAT_COLUMNS = 22

# Cursor (``state``) entries.
S_TUBES, S_POOL, S_HEAP, S_COUNTER, S_CURRENT, S_POSITION, S_PENDING = range(7)
STATE_SIZE = 7

# Statistics entries (names as in ``SearchStats``).
STAT_NAMES = (
    "paths_expanded",
    "paths_generated",
    "pruned_empty_domain",
    "pruned_action",
    "pruned_rotation",
    "pruned_facet_repeat",
    "pruned_depth",
    "max_depth",
    "closures_tried",
    "closures_without_fixed_point",
    "closures_below_inradius_bound",
    "pruned_zero_time_cycle",
)
(
    ST_EXPANDED,
    ST_GENERATED,
    ST_EMPTY,
    ST_ACTION,
    ST_ROTATION,
    ST_FACET,
    ST_DEPTH,
    ST_MAXDEPTH,
    ST_CLOSE_TRIED,
    ST_CLOSE_NOFIX,
    ST_CLOSE_BELOW,
    ST_ZERO_CYCLE,
) = range(12)

# Return codes of :func:`advance`.
DONE, YIELD, CLOSE, GROW = 0, 1, 2, 3

TWO_PI = 2.0 * math.pi


@njit(cache=True)
def _heap_less(hkey: np.ndarray, hdep: np.ndarray, hcnt: np.ndarray, i: int, j: int) -> bool:
    if hkey[i] != hkey[j]:
        return hkey[i] < hkey[j]
    if hdep[i] != hdep[j]:
        return hdep[i] < hdep[j]
    return hcnt[i] < hcnt[j]


@njit(cache=True)
def _heap_swap(
    hkey: np.ndarray, hdep: np.ndarray, hcnt: np.ndarray, hid: np.ndarray, i: int, j: int
) -> None:
    hkey[i], hkey[j] = hkey[j], hkey[i]
    hdep[i], hdep[j] = hdep[j], hdep[i]
    hcnt[i], hcnt[j] = hcnt[j], hcnt[i]
    hid[i], hid[j] = hid[j], hid[i]


@njit(cache=True)
def heap_push(
    hkey: np.ndarray,
    hdep: np.ndarray,
    hcnt: np.ndarray,
    hid: np.ndarray,
    size: int,
    key: int,
    depth_key: int,
    count: int,
    tube: int,
) -> int:
    """Push ``(key, depth_key, count) -> tube``; returns the new size (min-heap, like heapq)."""
    i = size
    hkey[i], hdep[i], hcnt[i], hid[i] = key, depth_key, count, tube
    while i > 0:
        parent = (i - 1) // 2
        if _heap_less(hkey, hdep, hcnt, i, parent):
            _heap_swap(hkey, hdep, hcnt, hid, i, parent)
            i = parent
        else:
            break
    return size + 1


@njit(cache=True)
def heap_pop(
    hkey: np.ndarray, hdep: np.ndarray, hcnt: np.ndarray, hid: np.ndarray, size: int
) -> int:
    """Remove the smallest entry (read it from index 0 first); returns the new size."""
    size -= 1
    _heap_swap(hkey, hdep, hcnt, hid, 0, size)
    i = 0
    while True:
        left, right, best = 2 * i + 1, 2 * i + 2, i
        if left < size and _heap_less(hkey, hdep, hcnt, left, best):
            best = left
        if right < size and _heap_less(hkey, hdep, hcnt, right, best):
            best = right
        if best == i:
            return size
        _heap_swap(hkey, hdep, hcnt, hid, i, best)
        i = best


@njit(cache=True)
def _wrap_angle(angle: float) -> float:
    return angle - TWO_PI * math.ceil((angle - math.pi) / TWO_PI)


@njit(cache=True)
def _rotation_min(m00: float, m01: float, m10: float, m11: float, theta: float) -> float:
    """``r_min`` of ``reeb.rotation.rotation_interval`` (turns)."""
    p00 = m00 * m00 + m10 * m10
    p10 = m00 * m01 + m10 * m11
    p11 = m01 * m01 + m11 * m11
    h0 = math.atan2(p10, p00 + 1.0)
    frob = p00 + p11
    sigma = 0.5 * (math.sqrt(frob + 2.0) + math.sqrt(max(frob - 2.0, 0.0)))
    width = math.pi / 2.0 - 2.0 * math.atan(1.0 / sigma)
    return (theta - h0 - width) / TWO_PI


@njit(cache=True)
def _lower_bound(
    pool: np.ndarray,
    p0: int,
    m: int,
    g0: float,
    g1: float,
    const: float,
    jb: np.ndarray,
    jo: np.ndarray,
    start: int,
    node: int,
    inv: np.ndarray,
    s0: float,
    s1: float,
    return_bound: bool,
    so_far: np.ndarray,
) -> float:
    """``TubeSearch._lower_bound``: action so far plus the least time to return to the start.

    ``so_far`` is scratch room for ``m`` values (the caller's free buffer: an allocation per
    child was a tenth of the 24-cell's search).
    """
    lowest = np.inf
    for i in range(m):
        so_far[i] = pool[p0 + i, 0] * g0 + pool[p0 + i, 1] * g1 + const
        lowest = min(lowest, so_far[i])
    if not return_bound:
        return lowest
    best = -np.inf
    for v in range(jb.shape[1]):
        a, b = jb[start, v, 0], jb[start, v, 1]
        js0 = a * inv[0] + b * inv[2]
        js1 = a * inv[1] + b * inv[3]
        sl0 = js0 - jb[node, v, 0]
        sl1 = js1 - jb[node, v, 1]
        intercept = jo[start, v] - (js0 * s0 + js1 * s1) - jo[node, v]
        worst = np.inf
        for i in range(m):
            value = so_far[i] + 0.5 * (intercept + sl0 * pool[p0 + i, 0] + sl1 * pool[p0 + i, 1])
            worst = min(worst, value)
        best = max(best, worst)
    return best


@njit(cache=True)
def _extend(
    tube: int,
    e: int,
    bound: float,
    ti: np.ndarray,
    tf: np.ndarray,
    pool: np.ndarray,
    state: np.ndarray,
    stats: np.ndarray,
    scratch: np.ndarray,
    node_enter: np.ndarray,
    node_trans: np.ndarray,
    jb: np.ndarray,
    jo: np.ndarray,
    edge_target: np.ndarray,
    lin: np.ndarray,
    shift: np.ndarray,
    linv: np.ndarray,
    tgrad: np.ndarray,
    t0: np.ndarray,
    speed: np.ndarray,
    dom_start: np.ndarray,
    dom: np.ndarray,
    hp_start: np.ndarray,
    hpn: np.ndarray,
    hpo: np.ndarray,
    tol: float,
    max_rotation: float,
    rotation_tol: float,
    tie_rtol: float,
    facet_once: bool,
    return_bound: bool,
    zero_run: float,
    tmin: np.ndarray,
    condition_max: float,
    composed_error: float,
    action_scale: float,
) -> int:
    """``TubeSearch._extend``: the child tube's index, or -1 when a pruning rule removes it."""
    target = edge_target[e]
    start = ti[tube, T_START]
    if facet_once and target != start:
        facet = node_enter[target]
        walk = tube
        while walk >= 0:
            if node_enter[ti[walk, T_NODE]] == facet:
                stats[ST_FACET] += 1
                return -1
            walk = ti[walk, T_PARENT]
    p0, m = ti[tube, T_PSTART], ti[tube, T_PLEN]
    if hp_start[e + 1] > hp_start[e]:
        k = clip_many(pool[p0 : p0 + m], m, hpn, hpo, hp_start[e], hp_start[e + 1], tol, scratch)
    else:
        d0, d1 = dom_start[e], dom_start[e + 1]
        k = intersect(pool[p0 : p0 + m], m, dom[d0:d1], d1 - d0, tol, scratch)
    if k == 0:
        stats[ST_EMPTY] += 1
        return -1
    # TubeSearch._closes_zero_time_cycle: back at ``target`` without having moved.
    longest = 0.0
    for i in range(k):
        longest = max(
            longest, abs(scratch[i, 0] * tgrad[e, 0] + scratch[i, 1] * tgrad[e, 1] + t0[e])
        )
    move = longest * speed[e]
    total = move
    walk = tube
    while walk >= 0 and total <= zero_run:
        if ti[walk, T_NODE] == target:
            stats[ST_ZERO_CYCLE] += 1
            return -1
        total += tf[walk, F_MOVE]
        walk = ti[walk, T_PARENT]
    child = state[S_TUBES]
    q0 = state[S_POOL]
    if q0 + k > pool.shape[0]:
        raise ValueError("reeb kernel: tube pool too small")
    a00, a01, a10, a11 = lin[e, 0], lin[e, 1], lin[e, 2], lin[e, 3]
    e0, e1 = shift[e, 0], shift[e, 1]
    for i in range(k):
        x, y = scratch[i, 0], scratch[i, 1]
        pool[q0 + i, 0] = x * a00 + y * a01 + e0
        pool[q0 + i, 1] = x * a10 + y * a11 + e1
    row = tf[tube]
    new = tf[child]
    i00, i01, i10, i11 = linv[e, 0], linv[e, 1], linv[e, 2], linv[e, 3]
    gp0 = row[F_GRAD] + tgrad[e, 0]
    gp1 = row[F_GRAD + 1] + tgrad[e, 1]
    g0 = i00 * gp0 + i10 * gp1
    g1 = i01 * gp0 + i11 * gp1
    const = row[F_CONST] + t0[e] - (gp0 * (i00 * e0 + i01 * e1) + gp1 * (i10 * e0 + i11 * e1))
    l00, l01, l10, l11 = row[F_LIN], row[F_LIN + 1], row[F_LIN + 2], row[F_LIN + 3]
    new[F_LIN] = a00 * l00 + a01 * l10
    new[F_LIN + 1] = a00 * l01 + a01 * l11
    new[F_LIN + 2] = a10 * l00 + a11 * l10
    new[F_LIN + 3] = a10 * l01 + a11 * l11
    ts0, ts1 = row[F_SHIFT], row[F_SHIFT + 1]
    sh0 = a00 * ts0 + a01 * ts1 + e0
    sh1 = a10 * ts0 + a11 * ts1 + e1
    new[F_SHIFT], new[F_SHIFT + 1] = sh0, sh1
    v00, v01, v10, v11 = row[F_INV], row[F_INV + 1], row[F_INV + 2], row[F_INV + 3]
    new[F_INV] = v00 * i00 + v01 * i10
    new[F_INV + 1] = v00 * i01 + v01 * i11
    new[F_INV + 2] = v10 * i00 + v11 * i10
    new[F_INV + 3] = v10 * i01 + v11 * i11
    new[F_GRAD], new[F_GRAD + 1], new[F_CONST] = g0, g1, const
    # Rotation (RotationTracker.cross): turn of e1's image, then the product matrix.
    r00, r01, r10, r11 = row[F_ROT], row[F_ROT + 1], row[F_ROT + 2], row[F_ROT + 3]
    f00, f01, f10, f11 = (
        node_trans[target, 0],
        node_trans[target, 1],
        node_trans[target, 2],
        node_trans[target, 3],
    )
    ix = f00 * r00 + f01 * r10
    iy = f10 * r00 + f11 * r10
    turn = _wrap_angle(math.atan2(iy, ix) - math.atan2(r10, r00))
    m00 = f00 * r00 + f01 * r10
    m01 = f00 * r01 + f01 * r11
    m10 = f10 * r00 + f11 * r10
    m11 = f10 * r01 + f11 * r11
    theta = row[F_THETA] + turn
    if _rotation_min(m00, m01, m10, m11, theta) > max_rotation + rotation_tol:
        stats[ST_ROTATION] += 1
        return -1
    # TubeSearch._extend: the composed data bound the action (less their rounding margin)
    # only while kappa <= BOUND_CONDITION_MAX.
    norm_lin = math.sqrt(
        new[F_LIN] ** 2 + new[F_LIN + 1] ** 2 + new[F_LIN + 2] ** 2 + new[F_LIN + 3] ** 2
    )
    norm_inv = math.sqrt(
        new[F_INV] ** 2 + new[F_INV + 1] ** 2 + new[F_INV + 2] ** 2 + new[F_INV + 3] ** 2
    )
    kappa = norm_lin * norm_inv
    path_min = row[F_PATHMIN] + tmin[e]
    lower = max(row[F_LOWER], path_min)
    if kappa <= condition_max:
        own = _lower_bound(
            pool,
            q0,
            k,
            g0,
            g1,
            const,
            jb,
            jo,
            start,
            target,
            new[F_INV : F_INV + 4],
            sh0,
            sh1,
            return_bound,
            scratch[:, 0],  # free: the clipped polygon was copied to the pool above
        )
        lower = max(lower, own - composed_error * kappa * max(abs(own), action_scale))
    if lower >= bound * (1.0 - tie_rtol):
        stats[ST_ACTION] += 1
        return -1
    new[F_ROT], new[F_ROT + 1], new[F_ROT + 2], new[F_ROT + 3] = m00, m01, m10, m11
    new[F_THETA], new[F_LOWER] = theta, lower
    ti[child, T_START] = start
    ti[child, T_NODE] = target
    ti[child, T_PARENT] = tube
    ti[child, T_EDGE] = e
    ti[child, T_DEPTH] = ti[tube, T_DEPTH] + 1
    ti[child, T_PSTART] = q0
    ti[child, T_PLEN] = k
    new[F_MOVE] = move
    new[F_KAPPA], new[F_PATHMIN] = kappa, path_min
    state[S_TUBES] = child + 1
    state[S_POOL] = q0 + k
    return child


@njit(cache=True)
def fixed_point(
    linear: np.ndarray,
    sh0: float,
    sh1: float,
    poly: np.ndarray,
    m: int,
    g0: float,
    g1: float,
    const: float,
    tol: float,
    singular_rtol: float,
    point: np.ndarray,
) -> bool:
    """Twin of ``reeb.search._fixed_point``: writes the minimal-action fixed point of
    ``y -> linear y + shift`` in the closed polygon to ``point``; ``False`` if there is none."""
    diff = linear.copy()
    diff[0, 0] -= 1.0
    diff[1, 1] -= 1.0
    u, sig, vt = np.linalg.svd(diff)
    scale = max(1.0, np.max(np.abs(linear)))
    if sig[1] > singular_rtol * scale:
        solution = np.linalg.solve(diff, np.array([-sh0, -sh1]))
        if distance_to(poly, m, solution[0], solution[1]) <= tol * scale:
            point[0], point[1] = solution[0], solution[1]
            return True
        return False
    rhs0 = -(u[0, 0] * sh0 + u[1, 0] * sh1)
    rhs1 = -(u[0, 1] * sh0 + u[1, 1] * sh1)
    candidates = np.empty((4 * m + 8, 2))
    if sig[0] > singular_rtol * scale:
        if abs(rhs1) > tol * scale:
            return False
        k = line_section(poly, m, vt[0, 0], vt[0, 1], rhs0 / sig[0], tol * scale, candidates)
        if k == 0:
            return False
    else:
        if max(abs(sh0), abs(sh1)) > tol * scale:
            return False
        k = m
        candidates[:m] = poly[:m]
    best, best_value = 0, np.inf
    for i in range(k):
        value = candidates[i, 0] * g0 + candidates[i, 1] * g1 + const
        if value < best_value:
            best, best_value = i, value
    point[0], point[1] = candidates[best, 0], candidates[best, 1]
    return True


@njit(cache=True)
def closure_is_certain(
    linear: np.ndarray,
    kappa: float,
    tol: float,
    singular_rtol: float,
    condition_max: float,
    composed_error: float,
) -> bool:
    """Twin of ``reeb.search.closure_is_certain``."""
    if kappa > condition_max:
        return False
    diff = linear.copy()
    diff[0, 0] -= 1.0
    diff[1, 1] -= 1.0
    sig = np.linalg.svd(diff)[1]
    scale = max(1.0, np.max(np.abs(linear)))
    if sig[1] <= singular_rtol * scale:
        return True
    return composed_error * kappa * scale / sig[1] <= tol


@njit(cache=True)
def displacement_gap(linear: np.ndarray, s0: float, s1: float, poly: np.ndarray, m: int) -> float:
    """Twin of ``reeb.search.displacement_gap`` (the polygon is ``poly[:m]``)."""
    if m == 0:
        return math.inf
    a00, a01, a10, a11 = linear[0, 0] - 1.0, linear[0, 1], linear[1, 0], linear[1, 1] - 1.0
    xs = np.empty(m)
    ys = np.empty(m)
    for i in range(m):
        xs[i] = a00 * poly[i, 0] + a01 * poly[i, 1] + s0
        ys[i] = a10 * poly[i, 0] + a11 * poly[i, 1] + s1
    if m == 1:
        return math.sqrt(xs[0] * xs[0] + ys[0] * ys[0])
    if m >= 3:
        area2 = 0.0
        perimeter = 0.0
        for i in range(m):
            j = (i + 1) % m
            area2 += xs[i] * ys[j] - ys[i] * xs[j]
            perimeter += math.sqrt((xs[j] - xs[i]) ** 2 + (ys[j] - ys[i]) ** 2)
        if abs(area2) > 1e-12 * perimeter * perimeter:
            inside = True
            for i in range(m):
                j = (i + 1) % m
                cross = xs[i] * (ys[j] - ys[i]) - ys[i] * (xs[j] - xs[i])
                if (cross < 0.0 and area2 > 0.0) or (cross > 0.0 and area2 < 0.0):
                    inside = False
            if inside:
                return 0.0
    best = math.inf
    for i in range(m):
        j = (i + 1) % m
        dx, dy = xs[j] - xs[i], ys[j] - ys[i]
        length = max(dx * dx + dy * dy, 1e-300)
        lam = min(1.0, max(0.0, -(xs[i] * dx + ys[i] * dy) / length))
        px, py = xs[i] + lam * dx, ys[i] + lam * dy
        best = min(best, math.sqrt(px * px + py * py))
    return best


@njit(cache=True)
def clearly_open(
    linear: np.ndarray,
    s0: float,
    s1: float,
    poly: np.ndarray,
    m: int,
    kappa: float,
    tol: float,
    bound_condition_max: float,
    composed_error: float,
) -> bool:
    """Twin of ``reeb.search.clearly_open``."""
    if kappa > bound_condition_max or m == 0:
        return False
    scale = 1.0 + np.max(np.abs(linear))
    size = max(abs(s0), abs(s1))
    for i in range(m):
        size = max(size, abs(poly[i, 0]), abs(poly[i, 1]))
    margin = 10.0 * (composed_error * kappa * scale * size + scale * tol)
    return displacement_gap(linear, s0, s1, poly, m) > margin


@njit(cache=True)
def clearly_short(
    poly: np.ndarray,
    m: int,
    g0: float,
    g1: float,
    const: float,
    kappa: float,
    min_action: float,
    bound_condition_max: float,
    composed_error: float,
) -> bool:
    """Twin of ``reeb.search.clearly_short``."""
    if kappa > bound_condition_max or m == 0:
        return False
    largest = -math.inf
    for i in range(m):
        largest = max(largest, poly[i, 0] * g0 + poly[i, 1] * g1 + const)
    margin = 10.0 * composed_error * kappa * max(abs(largest), min_action)
    return largest + margin < min_action


@njit(cache=True)
def _closes(
    child: int,
    ti: np.ndarray,
    tf: np.ndarray,
    pool: np.ndarray,
    stats: np.ndarray,
    found: np.ndarray,
    tol: float,
    singular_rtol: float,
    min_action: float,
    condition_max: float,
    composed_error: float,
    bound_condition_max: float,
    bound_error: float,
) -> bool:
    """``TubeSearch._close`` up to the rotation number: a fixed point with a plausible action.

    Writes ``(y0, y1, action, 0)`` to ``found``.  Closures without a fixed point, or below the
    inradius bound, are counted and dropped here (they are most closures in the spectrum).
    A closure the composed map cannot decide (``closure_is_certain``) is handed to Python with
    ``found[3] = 1`` (``TubeSearch._close_by_program``) unless ``clearly_open`` rules it out.
    """
    stats[ST_CLOSE_TRIED] += 1
    row = tf[child]
    linear = row[F_LIN : F_LIN + 4].copy().reshape(2, 2)
    p0, m = ti[child, T_PSTART], ti[child, T_PLEN]
    if not closure_is_certain(
        linear, row[F_KAPPA], tol, singular_rtol, condition_max, composed_error
    ):
        if clearly_open(
            linear,
            row[F_SHIFT],
            row[F_SHIFT + 1],
            pool[p0 : p0 + m],
            m,
            row[F_KAPPA],
            tol,
            bound_condition_max,
            bound_error,
        ):
            stats[ST_CLOSE_NOFIX] += 1
            return False
        if clearly_short(
            pool[p0 : p0 + m],
            m,
            row[F_GRAD],
            row[F_GRAD + 1],
            row[F_CONST],
            row[F_KAPPA],
            min_action,
            bound_condition_max,
            bound_error,
        ):
            stats[ST_CLOSE_BELOW] += 1
            return False
        found[3] = 1.0
        return True
    found[3] = 0.0
    g0, g1, const = row[F_GRAD], row[F_GRAD + 1], row[F_CONST]
    if not fixed_point(
        linear,
        row[F_SHIFT],
        row[F_SHIFT + 1],
        pool[p0 : p0 + m],
        m,
        g0,
        g1,
        const,
        tol,
        singular_rtol,
        found,
    ):
        stats[ST_CLOSE_NOFIX] += 1
        return False
    found[2] = found[0] * g0 + found[1] * g1 + const
    if found[2] < min_action:
        stats[ST_CLOSE_BELOW] += 1
        return False
    return True


@njit(cache=True)
def _push(
    child: int,
    ti: np.ndarray,
    tf: np.ndarray,
    state: np.ndarray,
    stats: np.ndarray,
    hkey: np.ndarray,
    hdep: np.ndarray,
    hcnt: np.ndarray,
    hid: np.ndarray,
    quantum: float,
    max_depth: int,
) -> None:
    """Queue a child (``TubeSearch.run``'s depth guard, counters and heap key)."""
    depth = ti[child, T_DEPTH]
    if depth >= max_depth:
        stats[ST_DEPTH] += 1
        return
    stats[ST_GENERATED] += 1
    stats[ST_MAXDEPTH] = max(stats[ST_MAXDEPTH], depth)
    lower = tf[child, F_LOWER]
    key = np.int64(math.floor(lower / quantum)) if quantum > 0 else np.int64(0)
    count = state[S_COUNTER]
    state[S_COUNTER] = count + 1
    state[S_HEAP] = heap_push(hkey, hdep, hcnt, hid, state[S_HEAP], key, -depth, count, child)


@njit(cache=True)
def advance(
    bound: float,
    chunk: int,
    ti: np.ndarray,
    tf: np.ndarray,
    pool: np.ndarray,
    state: np.ndarray,
    stats: np.ndarray,
    hkey: np.ndarray,
    hdep: np.ndarray,
    hcnt: np.ndarray,
    hid: np.ndarray,
    scratch: np.ndarray,
    node_enter: np.ndarray,
    node_trans: np.ndarray,
    jb: np.ndarray,
    jo: np.ndarray,
    edge_start: np.ndarray,
    edge_target: np.ndarray,
    lin: np.ndarray,
    shift: np.ndarray,
    linv: np.ndarray,
    tgrad: np.ndarray,
    t0: np.ndarray,
    speed: np.ndarray,
    dom_start: np.ndarray,
    dom: np.ndarray,
    hp_start: np.ndarray,
    hpn: np.ndarray,
    hpo: np.ndarray,
    tol: float,
    max_rotation: float,
    rotation_tol: float,
    tie_rtol: float,
    quantum: float,
    facet_once: bool,
    through_start: bool,
    return_bound: bool,
    max_depth: int,
    max_hp: int,
    found: np.ndarray,
    singular_rtol: float,
    min_action: float,
    zero_run: float,
    tmin: np.ndarray,
    condition_max: float,
    composed_error: float,
    close_condition_max: float,
    close_error: float,
) -> int:
    """Run the search until it is done or needs Python (see module docstring).

    Returns ``DONE``, ``YIELD``, ``CLOSE`` (the closing child is ``state[S_PENDING]``, its
    fixed point and action are in ``found``; it is queued on the next call when
    ``through_start``) or ``GROW``.
    """
    expanded = 0
    if state[S_PENDING] >= 0:
        pending = state[S_PENDING]
        state[S_PENDING] = -1
        if through_start:
            _push(pending, ti, tf, state, stats, hkey, hdep, hcnt, hid, quantum, max_depth)
    while True:
        tube = state[S_CURRENT]
        if tube < 0:
            if state[S_HEAP] == 0:
                return DONE
            top = hid[0]
            if tf[top, F_LOWER] >= bound * (1.0 - tie_rtol):
                # TubeSearch.run: the heap is ordered by the quantised bound.
                if hkey[0] * quantum >= bound * (1.0 - tie_rtol):
                    return DONE
                state[S_HEAP] = heap_pop(hkey, hdep, hcnt, hid, state[S_HEAP])
                continue
            if expanded >= chunk:
                return YIELD
            node = ti[top, T_NODE]
            degree = edge_start[node + 1] - edge_start[node]
            # Room for every child polygon (a clip can at most double a speck's vertices).
            need = 2 * (ti[top, T_PLEN] + max_hp) + 16
            if (
                state[S_TUBES] + degree + 1 > ti.shape[0]
                or state[S_POOL] + degree * need > pool.shape[0]
                or state[S_HEAP] + degree + 1 > hkey.shape[0]
                or need > scratch.shape[0]
            ):
                return GROW
            state[S_HEAP] = heap_pop(hkey, hdep, hcnt, hid, state[S_HEAP])
            stats[ST_EXPANDED] += 1
            expanded += 1
            tube = top
            state[S_CURRENT] = top
            state[S_POSITION] = edge_start[node]
        node = ti[tube, T_NODE]
        start = ti[tube, T_START]
        end = edge_start[node + 1]
        while state[S_POSITION] < end:
            e = state[S_POSITION]
            state[S_POSITION] = e + 1
            if edge_target[e] < start:
                continue
            child = _extend(
                tube,
                e,
                bound,
                ti,
                tf,
                pool,
                state,
                stats,
                scratch,
                node_enter,
                node_trans,
                jb,
                jo,
                edge_target,
                lin,
                shift,
                linv,
                tgrad,
                t0,
                speed,
                dom_start,
                dom,
                hp_start,
                hpn,
                hpo,
                tol,
                max_rotation,
                rotation_tol,
                tie_rtol,
                facet_once,
                return_bound,
                zero_run,
                tmin,
                condition_max,
                composed_error,
                min_action,
            )
            if child < 0:
                continue
            if edge_target[e] == start:
                if _closes(
                    child,
                    ti,
                    tf,
                    pool,
                    stats,
                    found,
                    tol,
                    singular_rtol,
                    min_action,
                    close_condition_max,
                    close_error,
                    condition_max,
                    composed_error,
                ):
                    state[S_PENDING] = child
                    return CLOSE
                if not through_start:
                    continue
            _push(child, ti, tf, state, stats, hkey, hdep, hcnt, hid, quantum, max_depth)
        state[S_CURRENT] = -1


class PackedGraph:
    """A :class:`~viterbo.invariants.reeb.graph.FlowGraph` as flat arrays for :func:`advance`.

    Edges are numbered node by node in the graph's own order (``edges[k]`` is the ``Edge``
    object of kernel edge ``k``), so kernel paths map back to the Python objects.
    """

    def __init__(self, graph: FlowGraph, search: TubeSearch) -> None:
        nodes = graph.nodes
        edges = [edge for node in nodes for edge in node.edges]
        self.edges = edges
        self.node_enter = np.array([node.enter for node in nodes], dtype=np.int64)
        self.node_trans = np.array([node.transition.ravel() for node in nodes]).reshape(-1, 4)
        self.node_polygons = [np.ascontiguousarray(node.polygon, dtype=float) for node in nodes]
        self.jb = search._j_basis  # (N, V, 2)
        self.jo = search._j_origin  # (N, V)
        self.edge_start = np.cumsum([0] + [len(node.edges) for node in nodes]).astype(np.int64)
        arrays = graph.edge_arrays
        if arrays is not None and _describes(arrays, self.edge_start, edges):
            self._take(arrays)
        else:  # a graph assembled by hand, or edited since it was built
            self._gather(edges)
        self.speed = np.ascontiguousarray(search._speed[self.facet], dtype=float)
        self.tmin = _least_times(self.dom, self.dom_start, self.tgrad, self.t0)
        self.max_hp = int(np.max(np.diff(self.hp_start), initial=0)) + int(
            np.max(np.diff(self.dom_start), initial=0)
        )

    def _take(self, arrays: EdgeArrays) -> None:
        """The edge columns from the graph's own arrays (built with the edges)."""
        self.edge_target, self.facet = arrays.target, arrays.facet
        self.lin, self.shift, self.linv = arrays.linear, arrays.shift, arrays.linear_inv
        self.tgrad, self.t0 = arrays.time_grad, arrays.time0
        self.dom, self.dom_start = arrays.domains, arrays.domain_start
        self.hpn, self.hpo = arrays.halfplane_normals, arrays.halfplane_offsets
        self.hp_start = arrays.halfplane_start

    def _gather(self, edges: list[Edge]) -> None:
        """The edge columns gathered from the ``Edge`` objects."""
        count = len(edges)
        self.edge_target = np.array([e.target for e in edges], dtype=np.int64)
        self.facet = np.array([e.facet for e in edges], dtype=np.int64)
        self.lin = np.array([e.linear.ravel() for e in edges]).reshape(count, 4)
        self.shift = np.array([e.shift for e in edges]).reshape(count, 2)
        self.linv = np.array([e.linear_inv.ravel() for e in edges]).reshape(count, 4)
        self.tgrad = np.array([e.time_grad for e in edges]).reshape(count, 2)
        self.t0 = np.array([e.time0 for e in edges], dtype=float)
        self.dom_start = np.cumsum([0] + [len(e.domain) for e in edges]).astype(np.int64)
        self.dom = stack_rows([e.domain for e in edges])
        planes = [e.domain_halfplanes for e in edges]
        self.hp_start = np.cumsum([0] + [0 if p is None else len(p[1]) for p in planes]).astype(
            np.int64
        )
        self.hpn = stack_rows([p[0] for p in planes if p is not None])
        self.hpo = np.concatenate([p[1] for p in planes if p is not None] or [np.zeros(0)])


def _describes(arrays: EdgeArrays, edge_start: np.ndarray, edges: list[Edge]) -> bool:
    """Whether ``arrays`` still list exactly these edges (node by node, same targets)."""
    return (
        np.array_equal(arrays.edge_start, edge_start)
        and len(arrays.target) == len(edges)
        and np.array_equal(arrays.target, np.fromiter((e.target for e in edges), np.int64))
    )


def _enlarged(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` followed by zero rows, ``rows`` rows in all."""
    out = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


class CompiledTubeSearch(TubeSearch):
    """:class:`TubeSearch` with the loop compiled (same constructor, statistics and results).

    The stores the kernel is short of grow by 1.5x when it asks (``GROW``, see ``_grow``); the
    time budget is checked every ``CHUNK`` expansions.
    """

    CHUNK = 256
    MAX_BYTES = 3 * 2**30  # below the atlas child's default 4 GiB address-space limit

    def __init__(
        self,
        graph: FlowGraph,
        *,
        initial_capacity: int = 1024,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(graph, **kwargs)
        self.max_bytes = self.MAX_BYTES if max_bytes is None else int(max_bytes)
        self.packed = PackedGraph(graph, self)
        nodes = len(graph.nodes)
        capacity = max(initial_capacity, 4 * nodes)
        self.ti = np.zeros((capacity, INT_COLUMNS), dtype=np.int64)
        self.tf = np.zeros((capacity, FLOAT_COLUMNS))
        polygon_rows = sum(len(p) for p in self.packed.node_polygons)
        self.pool = np.zeros((max(8 * capacity, 2 * polygon_rows), 2))
        self.heap = [np.zeros(capacity, dtype=np.int64) for _ in range(4)]
        self.scratch = np.zeros((64 + self.packed.max_hp, 2))
        self.state = np.zeros(STATE_SIZE, dtype=np.int64)
        self.state[S_CURRENT] = -1
        self.state[S_PENDING] = -1
        self.kernel_stats = np.zeros(len(STAT_NAMES), dtype=np.int64)
        self.found = np.zeros(4)
        self._seed_initial_tubes()

    def _seed_initial_tubes(self) -> None:
        """One tube per start node (identity maps), queued with key ``(0, 0, counter)``.

        Filled as arrays: keys pushed with equal ``(0, 0)`` and increasing counters never
        move up the heap, so the heap after the pushes is the tubes in order.
        """
        ti, tf, pool, state = self.ti, self.tf, self.pool, self.state
        hkey, hdep, hcnt, hid = self.heap
        count = len(self.starts)
        if count == 0:
            return
        starts = np.asarray(self.starts, dtype=np.int64)
        polygons = [self.packed.node_polygons[node] for node in self.starts]
        sizes = np.array([len(polygon) for polygon in polygons], dtype=np.int64)
        first = int(state[S_POOL])
        bounds = first + row_bounds(sizes)
        pool[first : bounds[-1]] = stack_rows(polygons)
        ti[:count] = np.stack(  # T_START, T_NODE, T_PARENT, T_EDGE, T_DEPTH, T_PSTART, T_PLEN
            [
                starts,
                starts,
                np.full(count, -1),
                np.full(count, -1),
                np.zeros(count),
                bounds[:-1],
                sizes,
            ],
            axis=1,
        )
        identity = (1.0, 0.0, 0.0, 1.0)
        for column in (F_LIN, F_INV, F_ROT):
            tf[:count, column : column + 4] = identity
        tf[:count, F_KAPPA] = 2.0
        state[S_POOL] = bounds[-1]
        counter = int(state[S_COUNTER])
        size = int(state[S_HEAP])
        hkey[size : size + count] = 0
        hdep[size : size + count] = 0
        hcnt[size : size + count] = np.arange(counter, counter + count)
        hid[size : size + count] = np.arange(count)
        state[S_HEAP] = size + count
        state[S_COUNTER] = counter + count
        state[S_TUBES] = count

    def _grow(self) -> None:
        """Enlarge the stores the next expansion is short of (``advance``'s GROW test), by 1.5x.

        Raises :class:`SearchTooLarge` instead of growing past ``max_bytes``.
        """
        top = int(self.heap[3][0])
        node = int(self.ti[top, T_NODE])
        g = self.packed
        degree = int(g.edge_start[node + 1] - g.edge_start[node])
        need = 2 * (int(self.ti[top, T_PLEN]) + g.max_hp) + 16
        tubes, pool_used, heap_used = (int(self.state[i]) for i in (S_TUBES, S_POOL, S_HEAP))
        if tubes + degree + 1 > len(self.ti):
            rows = max(int(1.5 * len(self.ti)), tubes + degree + 1)
            self.ti = _enlarged(self.ti, rows)
            self.tf = _enlarged(self.tf, rows)
        if heap_used + degree + 1 > len(self.heap[0]):
            rows = max(int(1.5 * len(self.heap[0])), heap_used + degree + 1)
            self.heap = [_enlarged(h, rows) for h in self.heap]
        if pool_used + degree * need > len(self.pool):
            self.pool = _enlarged(
                self.pool, max(int(1.5 * len(self.pool)), pool_used + degree * need)
            )
        if need > len(self.scratch):
            self.scratch = np.zeros((2 * need, 2))
        size = sum(a.nbytes for a in (self.ti, self.tf, self.pool, *self.heap))
        if size > self.max_bytes:
            raise SearchTooLarge(
                f"the tube search needs more than {self.max_bytes / 2**30:.1f} GiB "
                f"({tubes} tubes, {self.stats.paths_expanded} paths expanded); give it a time "
                "budget or a larger max_bytes"
            )

    def tube(self, index: int) -> Tube:
        """The Python :class:`Tube` of kernel tube ``index`` (for closing and tests)."""
        ints, row = self.ti[index], self.tf[index]
        edges: list[Edge] = []
        moves: list[float] = []
        walk = index
        while self.ti[walk, T_PARENT] >= 0:
            edges.append(self.packed.edges[int(self.ti[walk, T_EDGE])])
            moves.append(float(self.tf[walk, F_MOVE]))
            walk = int(self.ti[walk, T_PARENT])
        p0, m = int(ints[T_PSTART]), int(ints[T_PLEN])
        return Tube(
            start=int(ints[T_START]),
            node=int(ints[T_NODE]),
            polygon=self.pool[p0 : p0 + m].copy(),
            linear=row[F_LIN : F_LIN + 4].reshape(2, 2).copy(),
            shift=row[F_SHIFT : F_SHIFT + 2].copy(),
            inverse=row[F_INV : F_INV + 4].reshape(2, 2).copy(),
            action_grad=row[F_GRAD : F_GRAD + 2].copy(),
            action0=float(row[F_CONST]),
            rotation=RotationTracker(
                row[F_ROT : F_ROT + 4].reshape(2, 2).copy(), float(row[F_THETA])
            ),
            edges=tuple(reversed(edges)),
            facets=frozenset(int(self.graph.nodes[e.target].enter) for e in edges)
            | {int(self.graph.nodes[int(ints[T_START])].enter)},
            lower=float(row[F_LOWER]),
            moves=tuple(reversed(moves)),
            kappa=float(row[F_KAPPA]),
            path_min=float(row[F_PATHMIN]),
        )

    def run(self, on_orbit: Callable[[Orbit], float], bound: float = math.inf) -> None:
        """Search until no tube can beat the bound (see :meth:`TubeSearch.run`)."""
        started = time.perf_counter()
        g = self.packed
        quantum = ORDER_RTOL * self.min_action
        max_rotation = float(self.max_rotation)
        while True:
            chunk = self.CHUNK
            if self.max_paths is not None:
                # Yield right after path max_paths + 1, where the Python engine stops too.
                chunk = min(chunk, self.max_paths + 1 - self.stats.paths_expanded)
            code = advance(
                float(bound),
                chunk,
                self.ti,
                self.tf,
                self.pool,
                self.state,
                self.kernel_stats,
                *self.heap,
                self.scratch,
                g.node_enter,
                g.node_trans,
                g.jb,
                g.jo,
                g.edge_start,
                g.edge_target,
                g.lin,
                g.shift,
                g.linv,
                g.tgrad,
                g.t0,
                g.speed,
                g.dom_start,
                g.dom,
                g.hp_start,
                g.hpn,
                g.hpo,
                float(self.graph.tol),
                max_rotation,
                ROTATION_TOL,
                TIE_RTOL,
                quantum,
                self.facet_once,
                self.through_start,
                self.return_bound,
                self.max_depth,
                g.max_hp,
                self.found,
                SINGULAR_RTOL,
                self.min_action,
                self.zero_run,
                g.tmin,
                BOUND_CONDITION_MAX,
                COMPOSED_ERROR,
                CONDITION_MAX if self.exact_closures else math.inf,
                COMPOSED_ERROR if self.exact_closures else 0.0,
            )
            self._sync_stats()
            # Before DONE: a search that ends on path max_paths + 1 is over its budget, as in
            # the Python engine, which raises before it expands that path.
            self.stats.seconds = time.perf_counter() - started
            check_work(self.stats.paths_expanded, self.max_paths, self.stats.seconds, *PATH_BUDGET)
            if code == DONE:
                break
            if code == GROW:
                self._grow()
            elif code == CLOSE:
                orbit = self._orbit(self.tube(int(self.state[S_PENDING])))
                if orbit is not None:
                    bound = on_orbit(orbit)
            self.stats.seconds = time.perf_counter() - started
            if self.deadline is not None:
                self.deadline.check(f"{self.stats.paths_expanded} paths expanded")
        self.stats.seconds = time.perf_counter() - started

    def _orbit(self, tube: Tube) -> Orbit | None:
        """The orbit of a closing tube whose fixed point the kernel found (``self.found``)."""
        if self.found[3]:
            return self._close_by_program(tube)
        point = self.found[:2].copy()
        return self._orbit_at(tube, point, float(self.found[2]))

    def _sync_stats(self) -> None:
        for name, value in zip(STAT_NAMES, self.kernel_stats.tolist(), strict=True):
            setattr(self.stats, name, value)


def _least_times(
    dom: np.ndarray, dom_start: np.ndarray, tgrad: np.ndarray, t0: np.ndarray
) -> np.ndarray:
    """Per edge, the least flow time over its domain (>= 0): ``TubeSearch._least_time``, stacked."""
    count = len(t0)
    if count == 0:
        return np.zeros(0)
    sizes = np.diff(dom_start)
    owner = np.repeat(np.arange(count), sizes)
    times = np.einsum("ij,ij->i", dom, tgrad[owner]) + t0[owner]
    least = np.full(count, np.inf)
    np.minimum.at(least, owner, times)
    least[sizes == 0] = 0.0  # no domain, no bound (such an edge is never followed anyway)
    return np.maximum(least, 0.0)


def warm_up() -> float:
    """Compile the kernel (or load it from numba's on-disk cache); returns the seconds taken.

    The first call in a fresh checkout compiles for about half a minute; later processes load
    the cache in a fraction of a second.  :func:`ensure_compiled` calls it once per process.
    """
    started = time.perf_counter()
    from viterbo.geometry import Polytope
    from viterbo.invariants.reeb.graph import polytope_graph

    # The cross-polytope: small, and its graph has proper and degenerate (vertex) nodes.
    graph = polytope_graph(Polytope.from_vertices([s * e for e in np.eye(4) for s in (1.0, -1.0)]))
    CompiledTubeSearch(graph, facet_once=True, max_rotation=math.inf).run(
        lambda orbit: orbit.action
    )
    return time.perf_counter() - started


def ensure_compiled() -> None:
    """Compile or load the kernel now unless this process already has it (cheap then).

    Callers run this before they start a time budget, so the one-time compile (tens of seconds
    in a fresh checkout) is never charged to a search.
    """
    if not advance.signatures:
        warm_up()
