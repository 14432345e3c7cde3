"""Haim-Kislev's stationary points compiled with numba: one fused loop per facet cycle.

The numpy path (``viterbo.invariants.haim_kislev._solve_cycles``) builds every cycle's
matrices as batched temporaries (``H_σ``, ``NᵀH_σN``, an LU for the determinant and another
for the solve): about 5 µs per cycle, 15 s on the 3.3 million cycles of a 15-facet Lagrangian
product.  Here each cycle's k x k and m x m systems live in small scratch arrays and one LU
gives both the determinant test and the solve.  The arithmetic is the numpy path's, step for
step; the tests compare the two engines' maximisers, weights and counts.

:mod:`viterbo.invariants.haim_kislev` imports this module only for polytopes with at least
``COMPILED_MIN_CYCLES`` facet cycles, so small polytopes (and a cold ``atlas compute`` on
them) never load numba.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit


@njit(cache=True)
def _lu_solve(a: np.ndarray, b: np.ndarray, rank_rtol: float) -> bool:
    """Solve ``a z = b`` in place (``b`` becomes z) by LU with partial pivoting.

    Returns False, leaving ``b`` unspecified, when ``|det a| <= rank_rtol`` x the product of
    ``a``'s row norms (the Hadamard bound): the numpy path's singularity test.
    """
    m = a.shape[0]
    bound = 1.0
    for i in range(m):
        norm = 0.0
        for j in range(m):
            norm += a[i, j] * a[i, j]
        bound *= np.sqrt(norm)
    det = 1.0
    for col in range(m):
        pivot = col
        for r in range(col + 1, m):
            if abs(a[r, col]) > abs(a[pivot, col]):
                pivot = r
        if pivot != col:
            det = -det
            for j in range(m):
                a[col, j], a[pivot, j] = a[pivot, j], a[col, j]
            b[col], b[pivot] = b[pivot], b[col]
        det *= a[col, col]
        if a[col, col] == 0.0:
            return False
        for r in range(col + 1, m):
            factor = a[r, col] / a[col, col]
            for j in range(col + 1, m):
                a[r, j] -= factor * a[col, j]
            b[r] -= factor * b[col]
    if not abs(det) > rank_rtol * bound:
        return False
    for r in range(m - 1, -1, -1):
        total = b[r]
        for j in range(r + 1, m):
            total -= a[r, j] * b[j]
        b[r] = total / a[r, r]
    return True


@njit(cache=True)
def solve_cycles(
    cycles: np.ndarray,
    which: np.ndarray,
    beta0: np.ndarray,
    null: np.ndarray,
    constraint: np.ndarray,
    omega_sets: np.ndarray,
    rank_rtol: float,
    beta_rtol: float,
    residual_rtol: float,
    betas: np.ndarray,
    q: np.ndarray,
    valid: np.ndarray,
) -> int:
    """Stationary point, admissibility and Q of every cycle; returns the singular count.

    ``cycles[c]`` are the facets of cycle c in loop order; ``which[c]`` indexes its support's
    rows of ``beta0`` (k), ``null`` (k x m), ``constraint`` ((1 + d) x k) and ``omega_sets``
    (k x k), all indexed by the sorted support.  Fills ``betas[c]`` (clipped at 0 where
    admissible), ``q[c]`` and ``valid[c]``.
    """
    count, k = cycles.shape
    m = null.shape[2]
    rows = constraint.shape[1]
    position = np.empty(k, dtype=np.int64)
    h = np.empty((k, k))
    hn = np.empty((k, m))
    matrix = np.empty((m, m))
    rhs = np.empty(m)
    hb = np.empty(k)
    beta = np.empty(k)
    singular = 0
    for c in range(count):
        s = which[c]
        # position[i]: the place in σ of the i-th smallest facet of the support
        for j in range(k):
            rank = 0
            for i in range(k):
                if cycles[c, i] < cycles[c, j]:
                    rank += 1
            position[rank] = j
        h_max = 0.0
        for i in range(k):
            for j in range(k):
                w = omega_sets[s, i, j]
                h[i, j] = w if position[i] < position[j] else -w
                h_max = max(h_max, abs(w))
        for i in range(k):
            beta[i] = beta0[s, i]
        if m > 0:
            for i in range(k):
                total = 0.0
                for j in range(k):
                    total += h[i, j] * beta0[s, j]
                hb[i] = total
                for a in range(m):
                    total = 0.0
                    for j in range(k):
                        total += h[i, j] * null[s, j, a]
                    hn[i, a] = total
            for a in range(m):
                total = 0.0
                for i in range(k):
                    total += null[s, i, a] * hb[i]
                rhs[a] = -total
                for b in range(m):
                    total = 0.0
                    for i in range(k):
                        total += null[s, i, a] * hn[i, b]
                    matrix[a, b] = total
            m_max = 0.0
            for a in range(m):
                for b in range(m):
                    m_max = max(m_max, abs(matrix[a, b]))
            # rounding noise against H_σ (see haim_kislev._stationary_shifts), or |det| small
            if not m_max > rank_rtol * h_max or not _lu_solve(matrix, rhs, rank_rtol):
                singular += 1
                valid[c] = False
                continue
            for i in range(k):
                total = 0.0
                for a in range(m):
                    total += null[s, i, a] * rhs[a]
                beta[i] += total
        ok = True
        scale = 0.0
        smallest = np.inf
        size = 0.0
        for i in range(k):
            if not np.isfinite(beta[i]):
                ok = False
            scale = max(scale, abs(beta[i]))
            smallest = min(smallest, beta[i])
            size += abs(beta[i])
        ok = ok and smallest >= -beta_rtol * scale
        if ok:
            residual = 0.0
            for r in range(rows):
                total = -1.0 if r == 0 else 0.0
                for i in range(k):
                    total += constraint[s, r, i] * beta[i]
                residual += total * total
            ok = np.sqrt(residual) <= residual_rtol * (1.0 + size)
        valid[c] = ok
        if not ok:
            continue
        for i in range(k):
            beta[i] = max(beta[i], 0.0)
            betas[c, i] = beta[i]
        value = 0.0
        for i in range(k):
            for j in range(k):
                value += beta[i] * h[i, j] * beta[j]
        q[c] = 0.5 * value
    return singular


def warm_up() -> float:
    """Compile the kernel (or load it from numba's cache); returns the seconds taken."""
    started = time.perf_counter()
    k, m = 3, 1
    out = np.zeros((1, k))
    solve_cycles(
        np.array([[0, 2, 1]], dtype=np.int64),
        np.zeros(1, dtype=np.int64),
        np.ones((1, k)),
        np.ones((1, k, m)),
        np.ones((1, 5, k)),
        np.ones((1, k, k)),
        1e-10,
        1e-12,
        1e-12,
        out,
        np.zeros(1),
        np.zeros(1, dtype=np.bool_),
    )
    return time.perf_counter() - started
