"""Haim-Kislev's combinatorial formula for the EHZ capacity (algorithm ``haim-kislev``).

MATH.md §3.1 (HK, arXiv 1712.03494):

    c(K) = ½ [ max_{σ, β ∈ M(K)} Q(σ, β) ]^(-1),
    Q(σ, β) = Σ_{a<b} β_σ(a) β_σ(b) ω(n_σ(a), n_σ(b)),
    M(K) = {β >= 0 : Σ β_i h_i = 1, Σ β_i n_i = 0}.

Exact method implemented here:

* a maximiser visits each facet at most once and, read in σ order, is a closed
  characteristic, so σ ranges over the simple directed cycles of the *facet graph*
  (i -> j when facets i and j share a vertex and ω(n_i, n_j) >= -tol), each cycle once;
* cycles are grouped by their support S; the affine flat {A_S β = b} (height row and
  closure rows) is factorised once per support (particular solution β0, orthonormal null
  space N), and the stationary points of the indefinite quadratic Q on that flat are solved
  for all cyclic orders of S in one batched ``numpy.linalg.solve`` (supports of equal size
  and rank are batched together, so numpy's per-call overhead is paid per group, not per
  support); singular systems are skipped (see :func:`_solve_cycles`);
* stationary points in M(K) to rounding (β >= -1e-12 max β, closure and height residual
  <= 1e-12 relative) are candidates; those within ``TIE_RTOL`` of the largest Q are tried,
  best first, until one gives a loop that passes
  :func:`~viterbo.invariants.certificate.verify_loop`: the start point solves the loop's
  (overdetermined but consistent) start-point equations by an SVD, with a small
  min-violation LP over the directions they leave free (:func:`loop_from_candidate`); if
  the search's β fails, it is re-derived by a refined KKT solve (:func:`polish_candidate`)
  and tried again. The published value is ``1 / (2 Q)`` of the candidate whose loop
  verified, never of another.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import linprog

from viterbo.invariants.applicability import even_dimension
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.loops import close_loop, loop_to_list, omega_matrix, reeb_directions
from viterbo.invariants.registry import Algorithm, Deadline, WorkBudgetExceeded, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

OMEGA_TOL = 1e-9  # normals are unit vectors, so |ω(n_i, n_j)| <= 1: an absolute tolerance
RANK_RTOL = 1e-10  # singular values (determinants) below this relative size count as zero
# Admission of a stationary point as a candidate. Both are rounding-level on purpose: a
# looser test admits points that are not in M(K) (β slightly negative, or a closure
# Σ β n = 0 that holds only to ~1e-9 because the support's equations are inconsistent), whose
# Q can exceed the true maximum, push the genuine maximiser out of the tie window and then
# fail the loop certificate (perturbed Lagrangian and symplectic products at eps ~ 1e-9).
BETA_RTOL = 1e-12  # β entries down to -BETA_RTOL * max(β) count as non-negative
RESIDUAL_RTOL = 1e-12  # |A_S β - b| accepted, relative to 1 + Σ|β| (the size of the terms)
START_RANK_RTOL = 1e-9  # singular values of the start-point equations below this count as 0
CHUNK = 16384  # cycles per batched solve (bounds memory: CHUNK * k^2 floats)
# From this many facet cycles on, the stationary points are solved by the compiled kernel
# (haim_kislev_kernel, ~10x faster per cycle); below it numpy's batched solves take a few
# milliseconds and a process does not load numba for them.
COMPILED_MIN_CYCLES = 20_000
ENGINES = ("auto", "compiled", "numpy")
TIE_RTOL = 1e-9  # candidates within this relative gap of max Q are tried for the loop
POLISH_RTOL = 1e-12  # row-relative KKT residual a polished candidate must reach
MAX_LOOP_CANDIDATES = 20  # maximisers tried for a verified loop, best first
MAX_REPORTED_FAILURES = 5  # loop failures named in errors and diagnostics
PATH_BLOCK = 1 << 16  # paths extended together in the vectorised cycle search
MAX_CYCLES = 5_000_000  # beyond this the formula is hopeless here (memory, minutes of solves)
COUNT_BLOCK = 1 << 14  # path states extended together by the counting pass
COUNT_MAX_STATES = 1 << 22  # path states of one length beyond which the counting pass gives up


class HaimKislevError(ValueError):
    """The formula could not be evaluated (no admissible candidate, or no loop rebuilt)."""


@dataclass
class Candidate:
    """A feasible pair (σ, β): the order of the support facets and their weights."""

    q_value: float
    order: tuple[int, ...]  # facet indices in loop order
    weights: np.ndarray  # β over ``order`` (same length)


@dataclass
class SearchStats:
    """Counters reported in the diagnostics."""

    cycles: int = 0
    supports: int = 0
    supports_infeasible: int = 0
    candidates_solved: int = 0
    candidates_admissible: int = 0
    singular: int = 0
    enumeration_seconds: float = 0.0
    solve_seconds: float = 0.0


# --------------------------------------------------------------------------- facet graph


def facet_graph(
    normals: np.ndarray, incidence: np.ndarray, *, omega_tol: float = OMEGA_TOL
) -> list[list[int]]:
    """Successor lists of the facet graph: i -> j iff F_i, F_j share a vertex and ω(n_i, n_j) >= -tol.

    Parameters
    ----------
    normals : numpy.ndarray
        ``(F, 2n)`` unit outer normals.
    incidence : numpy.ndarray
        ``(F, V)`` boolean facet-vertex incidence.
    omega_tol : float
        Tolerance on ω (absolute; normals are unit vectors).

    Returns
    -------
    list of list of int
        ``successors[i]`` in increasing order.
    """
    incidence = np.asarray(incidence, dtype=bool)
    share = (incidence.astype(np.int64) @ incidence.T.astype(np.int64)) > 0
    allowed = share & (omega_matrix(normals) >= -omega_tol)
    np.fill_diagonal(allowed, False)
    return [np.flatnonzero(row).tolist() for row in allowed]


def _adjacency(successors: list[list[int]]) -> np.ndarray:
    """Boolean adjacency matrix of the successor lists (at most 62 nodes: masks are int64)."""
    size = len(successors)
    if size > 62:
        raise HaimKislevError(f"too many facets for the facet-cycle search ({size} > 62)")
    adjacency = np.zeros((size, size), dtype=bool)
    for i, row in enumerate(successors):
        adjacency[i, row] = True
    return adjacency


def _too_many_cycles(
    count: int, max_cycles: int, budget: bool, deadline: Deadline | None
) -> Exception:
    """The error for more than ``max_cycles`` cycles: a spent work budget (``budget``: the
    caller's ``max_cycles``, a deterministic ``timed_out``) or the built-in ``MAX_CYCLES``."""
    if budget:
        seconds = deadline.elapsed if deadline is not None else 0.0
        spent = f"{count} facet cycles counted, over max_cycles = {max_cycles}"
        return WorkBudgetExceeded(seconds, spent, "max_cycles")
    return HaimKislevError(
        f"more than {max_cycles} facet cycles: too many for haim-kislev (try reeb)"
    )


def _merge_states(keys: np.ndarray, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal states (keys) merged, their path counts summed."""
    keys, inverse = np.unique(keys, return_inverse=True)
    return keys, np.bincount(inverse, weights=paths, minlength=keys.size)


_BYTE_POPCOUNT = np.array([bin(byte).count("1") for byte in range(256)], dtype=np.int64)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Number of set bits of each non-negative int64 (numpy >= 2 has it built in)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.int64)
    as_bytes = np.ascontiguousarray(values, dtype=np.int64).view(np.uint8)
    return _BYTE_POPCOUNT[as_bytes].reshape(*values.shape, 8).sum(axis=-1)


def count_cycles(
    successors: list[list[int]],
    *,
    max_cycles: int | None = None,
    deadline: Deadline | None = None,
) -> int | None:
    """Number of simple directed cycles (as :func:`enumerate_cycles` finds them), stopping early.

    A path that starts at its smallest node can be continued in ways that depend only on its
    *state*: the set of nodes it visited and its last node (the start is the smallest node of
    the set). Paths of equal length are therefore merged into states carrying the number of
    paths. A state closes ``paths x |{v > start unvisited : last -> v -> start}|`` cycles one
    node later (a popcount of bit masks), so each layer of states also counts the cycles one
    longer than its children, before those are merged. A length-k layer has at most C(F, k) k
    states instead of up to (k-1)! paths per support, so a graph with millions of cycles is
    recognised after a few layers, without building any cycle.

    Parameters
    ----------
    successors : list of list of int
        Adjacency lists of the directed graph.
    max_cycles : int, optional
        Stop as soon as the count passes this (default ``MAX_CYCLES``).
    deadline : optional
        Checked once per block of states.

    Returns
    -------
    int or None
        The exact count when it is at most ``max_cycles``; some count above ``max_cycles``
        when the search stopped early; ``None`` when the count is unknown: a layer had more
        than ``COUNT_MAX_STATES`` states (memory stays bounded) or the graph has more than
        57 nodes (a state is packed into one int64 as ``visited << 6 | last``).
    """
    limit = MAX_CYCLES if max_cycles is None else max_cycles
    adjacency = _adjacency(successors)
    size = adjacency.shape[0]
    if size > 57:
        return None
    nodes = np.arange(size, dtype=np.int64)
    bits = np.left_shift(np.int64(1), nodes)
    successor_bits = adjacency.astype(np.int64) @ bits  # bit v of row u: u -> v
    # bit u of row v: u -> v and u > v (a cycle through its smallest node v re-enters v from u)
    closing_bits = (adjacency.T & (nodes[None, :] > nodes[:, None])).astype(np.int64) @ bits

    def cycles_one_longer(
        masks: np.ndarray, last: np.ndarray, start: np.ndarray, paths: np.ndarray
    ) -> float:
        closers = successor_bits[last] & closing_bits[start] & ~masks
        return float(paths @ _popcount(closers))

    keys = (bits << 6) | nodes  # paths of one node
    # path counts as floats: they can pass int64 long before the cycle count passes the limit
    paths = np.ones(size)
    total = cycles_one_longer(bits, nodes, nodes, paths)
    while keys.size and total <= limit:
        child_keys: list[np.ndarray] = []
        child_paths: list[np.ndarray] = []
        stored = 0
        for lo in range(0, keys.size, COUNT_BLOCK):
            if deadline is not None:
                deadline.check("counting facet cycles")
            block, block_paths = keys[lo : lo + COUNT_BLOCK], paths[lo : lo + COUNT_BLOCK]
            masks, last = block >> 6, block & 63
            start = np.log2(masks & -masks).astype(np.int64)  # lowest set bit; exact
            admissible = adjacency[last] & (nodes[None, :] > start[:, None])
            admissible &= (masks[:, None] & bits[None, :]) == 0
            rows, cols = np.nonzero(admissible)
            masks, paths_of_rows = masks[rows] | bits[cols], block_paths[rows]
            total += cycles_one_longer(masks, cols, start[rows], paths_of_rows)
            if total > limit:
                break
            child_keys.append((masks << 6) | cols)
            child_paths.append(paths_of_rows)
            stored += rows.size
            if stored > COUNT_MAX_STATES:  # merge what we have to bound memory
                merged = _merge_states(np.concatenate(child_keys), np.concatenate(child_paths))
                if merged[0].size > COUNT_MAX_STATES:
                    return None
                child_keys, child_paths = [merged[0]], [merged[1]]
                stored = merged[0].size
        if total > limit or not child_keys:
            break
        keys, paths = _merge_states(np.concatenate(child_keys), np.concatenate(child_paths))
        if keys.size > COUNT_MAX_STATES:
            return None
    return int(total)


def enumerate_cycles(
    successors: list[list[int]],
    deadline: Deadline | None = None,
    *,
    max_cycles: int | None = None,
    budget: bool = False,
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """All simple directed cycles, each once (starting at its smallest node), grouped by length.

    Vectorised depth-first search over *blocks* of paths: every path of a block is extended by
    all admissible successors at once (numpy), and the children are pushed back in blocks of
    at most ``PATH_BLOCK`` paths, so memory stays bounded by depth x block size. A counting
    pass (:func:`count_cycles`) runs first, so a graph with too many cycles is refused within
    a fraction of a second instead of after materialising ``max_cycles`` of them.

    Parameters
    ----------
    successors : list of list of int
        Adjacency lists of the directed graph (at most 62 nodes).
    deadline : optional
        Checked once per block.
    max_cycles : int, optional
        Refuse graphs with more cycles than this (default ``MAX_CYCLES``).
    budget : bool
        ``max_cycles`` is a work budget: exceeding it raises
        :class:`~viterbo.invariants.registry.WorkBudgetExceeded` instead.

    Returns
    -------
    dict
        Cycle length k -> ``(cycles, masks)``: ``(nc, k)`` int8 node arrays in cycle order
        and the ``(nc,)`` bit masks of their supports.

    Raises
    ------
    HaimKislevError
        More than ``max_cycles`` cycles (the formula is hopeless there; use ``reeb``).
    """
    limit = MAX_CYCLES if max_cycles is None else max_cycles
    adjacency = _adjacency(successors)
    count = count_cycles(successors, max_cycles=limit, deadline=deadline)
    if count is not None and count > limit:
        raise _too_many_cycles(count, limit, budget, deadline)
    size = adjacency.shape[0]
    nodes = np.arange(size)
    bits = np.left_shift(np.int64(1), nodes.astype(np.int64))
    found: dict[int, list[np.ndarray]] = defaultdict(list)
    found_masks: dict[int, list[np.ndarray]] = defaultdict(list)
    total = 0
    # every path starts at its smallest node; only larger nodes may follow
    stack = [(nodes[:, None].astype(np.int8), bits.copy())]
    while stack:
        if deadline is not None:
            deadline.check("enumerating facet cycles")
        paths, masks = stack.pop()
        start, last = paths[:, 0].astype(np.int64), paths[:, -1].astype(np.int64)
        admissible = adjacency[last] & (nodes[None, :] > start[:, None])
        admissible &= (masks[:, None] & bits[None, :]) == 0
        rows, cols = np.nonzero(admissible)
        if rows.size == 0:
            continue
        children = np.concatenate([paths[rows], cols[:, None].astype(np.int8)], axis=1)
        child_masks = masks[rows] | bits[cols]
        closing = adjacency[cols, start[rows]]
        if np.any(closing):
            length = children.shape[1]
            found[length].append(children[closing])
            found_masks[length].append(child_masks[closing])
            total += int(np.count_nonzero(closing))
            if total > limit:  # reached only when the counting pass gave up
                raise _too_many_cycles(total, limit, budget, deadline)
        for lo in range(0, children.shape[0], PATH_BLOCK):
            stack.append((children[lo : lo + PATH_BLOCK], child_masks[lo : lo + PATH_BLOCK]))
    return {k: (np.concatenate(found[k]), np.concatenate(found_masks[k])) for k in sorted(found)}


# --------------------------------------------------------------------------- stationary points


@dataclass
class _Flats:
    """Factorised flats {β : A_S β = b} of several supports of one size and rank."""

    support_ids: np.ndarray  # (ns,) ids into the size-k support list
    particular: np.ndarray  # (ns, k) β0
    null_space: np.ndarray  # (ns, k, m) orthonormal columns


def _support_flats(
    facet_sets: np.ndarray, normals: np.ndarray, offsets: np.ndarray, stats: SearchStats
) -> list[_Flats]:
    """β0 and N for every support (rows of ``facet_sets``, sorted), grouped by rank.

    Supports whose flat is empty (inconsistent equations), or whose β0 is forced and has a
    negative entry, are dropped here, before any of their cyclic orders is looked at.
    """
    k = facet_sets.shape[1]
    constraint = np.concatenate(
        [offsets[facet_sets][:, None, :], np.swapaxes(normals[facet_sets], 1, 2)], axis=1
    )  # (ns, 1 + d, k)
    u, s, vt = np.linalg.svd(constraint, full_matrices=True)
    ranks = np.sum(s > RANK_RTOL * s[:, :1], axis=1)
    groups: list[_Flats] = []
    for rank in np.unique(ranks):
        ids = np.flatnonzero(ranks == rank)
        # β0 = V_r S_r^-1 U_rᵀ e_0 (the minimum-norm solution)
        coeffs = u[ids, 0, :rank] / s[ids, :rank]
        beta0 = np.einsum("sr,srk->sk", coeffs, vt[ids, :rank, :])
        residual = np.linalg.norm(
            np.einsum("sik,sk->si", constraint[ids], beta0) - _unit(constraint.shape[1]), axis=1
        )
        keep = residual <= RESIDUAL_RTOL * (1.0 + np.sum(np.abs(beta0), axis=1))
        if rank == k:  # β is forced: it must be non-negative
            keep &= np.min(beta0, axis=1) >= -BETA_RTOL * np.max(np.abs(beta0), axis=1)
        stats.supports_infeasible += int(ids.size - np.count_nonzero(keep))
        if np.any(keep):
            null = np.swapaxes(vt[ids[keep], rank:, :], 1, 2)
            groups.append(_Flats(ids[keep], beta0[keep], null))
    return groups


def _unit(size: int) -> np.ndarray:
    e0 = np.zeros(size)
    e0[0] = 1.0
    return e0


def _order_matrices(cycles: np.ndarray, omega_support: np.ndarray) -> np.ndarray:
    """Symmetric H_σ (indexed by the sorted support) with Q(σ, β) = ½ βᵀ H_σ β.

    H[i, j] = ω(n_i, n_j) when facet i comes before facet j in σ (mirrored), where i, j
    index the support in increasing facet order; ``omega_support`` holds ω on each cycle's
    sorted support.
    """
    positions = np.argsort(cycles, axis=1).astype(np.int8)  # place in σ of the i-th facet
    before = positions[:, :, None] < positions[:, None, :]
    return np.where(before, omega_support, -omega_support)


def _stationary_shifts(
    matrix: np.ndarray, rhs: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve the batched symmetric systems ``matrix z = rhs``; flag the (near-)singular ones.

    Singular means |det| <= RANK_RTOL x the Hadamard bound (product of the row norms), which
    is cheap (one batched LU) and scale-free, or a matrix that is rounding noise against the
    ``scale`` it was computed from (max |entry| <= RANK_RTOL x ``scale``, max |H_σ| per cycle:
    NᵀH_σN with orthonormal N is no larger).  The second test matters for small systems: a
    1 x 1 noise matrix passes the first.  Returns ``(z, regular)``; z is 0 where singular.
    """
    row_norms = np.linalg.norm(matrix, axis=2)
    bound = np.prod(row_norms, axis=1)
    regular = np.abs(np.linalg.det(matrix)) > RANK_RTOL * bound
    regular &= np.max(np.abs(matrix), axis=(1, 2)) > RANK_RTOL * scale
    z = np.zeros(rhs.shape)
    if np.any(regular):
        try:
            z[regular] = np.linalg.solve(matrix[regular], rhs[regular])
        except np.linalg.LinAlgError:  # an exactly singular pivot slipped through: go slowly
            for c in np.flatnonzero(regular):
                try:
                    z[c] = np.linalg.solve(matrix[c], rhs[c])
                except np.linalg.LinAlgError:
                    regular[c] = False
    return z, regular


class _Best:
    """The admissible candidates with the largest Q seen so far (ties within TIE_RTOL)."""

    def __init__(self) -> None:
        self.q_value = -np.inf
        self.candidates: list[Candidate] = []

    def offer(self, q: np.ndarray, cycles: np.ndarray, betas: np.ndarray) -> None:
        top = float(np.max(q))
        if top < self.q_value * (1 - TIE_RTOL):
            return
        if top > self.q_value:
            self.q_value = top
            self.candidates = [c for c in self.candidates if c.q_value >= top * (1 - TIE_RTOL)]
        for j in np.flatnonzero(q >= top * (1 - TIE_RTOL))[:8]:
            order = cycles[j]
            # betas are indexed by the sorted support; re-index them in σ order
            weights = betas[j][np.argsort(np.argsort(order))]
            self.candidates.append(Candidate(float(q[j]), tuple(int(f) for f in order), weights))


def _solve_cycles(
    cycles: np.ndarray,
    beta0: np.ndarray,
    null: np.ndarray,
    constraint: np.ndarray,
    omega_support: np.ndarray,
    best: _Best,
    stats: SearchStats,
) -> None:
    """Stationary points of Q on each cycle's flat, batched over the cycles (one chunk)."""
    count = cycles.shape[0]
    m = null.shape[2]
    h = _order_matrices(cycles, omega_support)
    stats.candidates_solved += count
    if m == 0:
        betas = beta0
        valid = np.ones(count, dtype=bool)
    else:
        hn = h @ null  # (nc, k, m)
        nt = np.swapaxes(null, 1, 2)
        matrix = nt @ hn  # NᵀHN, symmetric (nc, m, m)
        rhs = -(nt @ (h @ beta0[:, :, None]))  # -NᵀHβ0 (nc, m, 1)
        # A singular NᵀHN is skipped (MATH.md §3.1): Q is constant on its stationary set,
        # which reaches the boundary β_i = 0, i.e. a maximiser with a smaller support. Every
        # maximiser is a closed characteristic, so that support is again a facet-graph cycle
        # and is enumerated on its own.
        z, valid = _stationary_shifts(matrix, rhs, np.max(np.abs(h), axis=(1, 2)))
        stats.singular += int(count - np.count_nonzero(valid))
        betas = beta0 + (null @ z)[..., 0]
    with np.errstate(over="ignore", invalid="ignore"):  # near-singular solves may blow up
        # (the finiteness test matters: the residual bound grows with Σ|β|, so an infinite
        # β would otherwise pass it)
        valid &= np.all(np.isfinite(betas), axis=1)
        scale = np.max(np.abs(betas), axis=1)
        valid &= np.min(betas, axis=1) >= -BETA_RTOL * scale
        residual = np.linalg.norm(
            np.einsum("cik,ck->ci", constraint, betas) - _unit(constraint.shape[1]), axis=1
        )
        valid &= residual <= RESIDUAL_RTOL * (1.0 + np.sum(np.abs(betas), axis=1))
    if not np.any(valid):
        return
    idx = np.flatnonzero(valid)
    betas_v = np.clip(betas[idx], 0.0, None)
    q = 0.5 * np.einsum("ci,cij,cj->c", betas_v, h[idx], betas_v)
    stats.candidates_admissible += idx.size
    best.offer(q, cycles[idx], betas_v)


def _solve_cycles_compiled(
    kernel: Any,
    cycles: np.ndarray,
    which: np.ndarray,
    arrays: list[np.ndarray],
    best: _Best,
    stats: SearchStats,
) -> None:
    """:func:`_solve_cycles` by the compiled kernel, on per-support ``arrays`` (β0, N, the
    constraint rows, ω) indexed by ``which`` instead of gathered per cycle."""
    count, k = cycles.shape
    betas = np.zeros((count, k))
    q = np.zeros(count)
    valid = np.zeros(count, dtype=bool)
    stats.candidates_solved += count
    stats.singular += kernel.solve_cycles(
        cycles, which, *arrays, RANK_RTOL, BETA_RTOL, RESIDUAL_RTOL, betas, q, valid
    )
    if not np.any(valid):
        return
    idx = np.flatnonzero(valid)
    stats.candidates_admissible += idx.size
    best.offer(q[idx], cycles[idx], betas[idx])


def maximise_q(
    normals: np.ndarray,
    offsets: np.ndarray,
    incidence: np.ndarray,
    *,
    time_budget: float | None = None,
    max_cycles: int | None = None,
    engine: str = "auto",
) -> tuple[list[Candidate], SearchStats]:
    """Maximise Haim-Kislev's Q over facet cycles and M(K).

    Parameters
    ----------
    normals, offsets : numpy.ndarray
        H-representation ``{x : normals @ x <= offsets}`` with unit normals.
    incidence : numpy.ndarray
        ``(F, V)`` facet-vertex incidence (for the facet graph).
    time_budget : float, optional
        Seconds; :class:`TimeBudgetExceeded` is raised when exceeded.
    max_cycles : int, optional
        Work budget: more facet cycles raise
        :class:`~viterbo.invariants.registry.WorkBudgetExceeded` once they are counted, before
        any is solved (without it, more than ``MAX_CYCLES`` raise :class:`HaimKislevError`).
    engine : str
        How the stationary points are solved: ``"numpy"`` (batched), ``"compiled"`` (the
        numba kernel, the same arithmetic) or ``"auto"``: compiled from
        ``COMPILED_MIN_CYCLES`` cycles on.

    Returns
    -------
    (list of Candidate, SearchStats)
        Candidates attaining max Q (within ``TIE_RTOL``), best first, and counters.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    deadline = Deadline(time_budget)
    stats = SearchStats()
    normals = np.asarray(normals, dtype=float)
    offsets = np.asarray(offsets, dtype=float)
    omega = omega_matrix(normals)

    t0 = time.perf_counter()
    by_length = enumerate_cycles(
        facet_graph(normals, incidence),
        deadline,
        max_cycles=max_cycles,
        budget=max_cycles is not None,
    )
    stats.enumeration_seconds = time.perf_counter() - t0

    total = sum(cycles.shape[0] for cycles, _ in by_length.values())
    compiled = engine == "compiled" or (engine == "auto" and total >= COMPILED_MIN_CYCLES)
    if compiled:
        from viterbo.invariants import haim_kislev_kernel  # numba: only where it pays

        # A process's first compile or cache load is not the formula's work: not charged.
        loading = time.perf_counter()
        ensure_compiled()
        if deadline.end is not None:
            deadline.end += time.perf_counter() - loading
    t0 = time.perf_counter()
    best = _Best()
    for cycles, masks in by_length.values():
        stats.cycles += cycles.shape[0]
        _, first, support_of_cycle = np.unique(masks, return_index=True, return_inverse=True)
        facet_sets = np.sort(cycles[first].astype(np.int64), axis=1)
        stats.supports += facet_sets.shape[0]
        for flats in _support_flats(facet_sets, normals, offsets, stats):
            deadline.check("solving stationary points")
            slot = np.full(facet_sets.shape[0], -1, dtype=np.int64)
            slot[flats.support_ids] = np.arange(flats.support_ids.size)
            chosen = np.flatnonzero(slot[support_of_cycle] >= 0)
            # per-support data, gathered per cycle below (one take along the first axis)
            sets = facet_sets[flats.support_ids]
            omega_sets = omega[sets[:, :, None], sets[:, None, :]]
            constraint_sets = np.concatenate(
                [offsets[sets][:, None, :], np.swapaxes(normals[sets], 1, 2)], axis=1
            )
            if compiled:
                arrays = [
                    np.ascontiguousarray(a)
                    for a in (flats.particular, flats.null_space, constraint_sets, omega_sets)
                ]
            for lo in range(0, chosen.size, CHUNK):
                rows = chosen[lo : lo + CHUNK]
                which = slot[support_of_cycle[rows]]
                if compiled:
                    _solve_cycles_compiled(
                        haim_kislev_kernel,
                        cycles[rows].astype(np.int64),
                        which,
                        arrays,
                        best,
                        stats,
                    )
                    deadline.check("solving stationary points")
                    continue
                _solve_cycles(
                    cycles[rows].astype(np.int64),
                    flats.particular[which],
                    flats.null_space[which],
                    constraint_sets[which],
                    omega_sets[which],
                    best,
                    stats,
                )
                deadline.check("solving stationary points")
    stats.solve_seconds = time.perf_counter() - t0
    candidates = sorted((c for c in best.candidates if c.q_value > 0), key=lambda c: -c.q_value)
    return candidates, stats


# --------------------------------------------------------------------------- polishing


@dataclass
class Polished:
    """A candidate re-solved on its own support (see :func:`polish_candidate`).

    ``candidate`` is ``None`` when no exact stationary point was found; ``reason`` then says
    why. ``kkt_residual`` is the largest row-relative residual of the KKT system.
    """

    candidate: Candidate | None
    reason: str = ""
    kkt_residual: float = 0.0


def polish_candidate(
    candidate: Candidate, normals: np.ndarray, offsets: np.ndarray, omega: np.ndarray
) -> Polished:
    """Re-derive β for the candidate's σ to working precision (KKT solve with refinement).

    The batched search solves ``(NᵀHN) z = -NᵀHβ0`` once, in double precision, for thousands
    of cycles; when NᵀHN is ill-conditioned (near-Lagrangian 2-faces make some of its
    eigenvalues as small as the perturbation) the solution is only backward stable, and β
    can be off along the soft directions by far more than rounding. This re-solves the
    stationary point of Q on the flat of the candidate's support directly,

        [[H, A_Sᵀ], [A_S, 0]] [β; ν] = [0; b]     (H β = A_Sᵀ μ, A_S β = b, ν = -μ),

    by least squares and up to three steps of iterative refinement started from the search's
    β (a singular system, whose solutions form a flat, thus gives the nearest solution).
    Facets whose weight is (about) zero are dropped first, keeping σ's order on the rest; if
    a weight falls to zero during the solve the facet is dropped and the solve repeated (an
    active-set step onto the face β_a = 0 of M(K), whose own stationary point it finds).

    The result is a point of M(K) and a stationary point on its support to rounding, so its
    Q is a value of Q on M(K) (a sound bound ``c <= 1 / (2 Q)`` by HK's formula) and the
    start-point equations of its loop are consistent to rounding.

    Parameters
    ----------
    candidate : Candidate
        A candidate from :func:`maximise_q`.
    normals, offsets : numpy.ndarray
        H-representation with the origin inside.
    omega : numpy.ndarray
        ``omega_matrix(normals)``.

    Returns
    -------
    Polished
        The re-solved candidate, or ``None`` with the reason.
    """
    order = np.array(candidate.order)
    beta = np.asarray(candidate.weights, dtype=float)
    dim = normals.shape[1]
    while True:
        keep = beta > BETA_RTOL * np.max(beta)
        order, beta = order[keep], beta[keep]
        k = order.size
        if k < 2:
            return Polished(None, "the support collapsed to a single facet")
        before = np.arange(k)[:, None] < np.arange(k)[None, :]
        block = omega[order[:, None], order[None, :]]
        hessian = np.where(before, block, block.T)  # H[a, b] = ω(n_σ(a), n_σ(b)) for a < b
        constraint = np.vstack([offsets[order], normals[order].T])  # A_S, (1 + d, k)
        kkt = np.block([[hessian, constraint.T], [constraint, np.zeros((1 + dim, 1 + dim))]])
        rhs = np.concatenate([np.zeros(k), _unit(1 + dim)])
        nu, *_ = np.linalg.lstsq(constraint.T, -hessian @ beta, rcond=None)
        solution = np.concatenate([beta, nu])
        for _ in range(3):
            residual = _kkt_residual(kkt, solution, rhs)
            if residual <= POLISH_RTOL:
                break
            step, *_ = np.linalg.lstsq(kkt, rhs - kkt @ solution, rcond=None)
            solution = solution + step
        residual = _kkt_residual(kkt, solution, rhs)
        beta = solution[:k]
        if np.min(beta) > BETA_RTOL * np.max(beta):
            break
    if residual > POLISH_RTOL:
        return Polished(
            None,
            f"the KKT system of support {tuple(int(f) for f in order)} has no solution "
            f"(relative residual {residual:.3g}): its heights and normals are numerically "
            "dependent",
            residual,
        )
    q_value = 0.5 * float(beta @ hessian @ beta)
    return Polished(Candidate(q_value, tuple(int(f) for f in order), beta), "", residual)


def _kkt_residual(kkt: np.ndarray, solution: np.ndarray, rhs: np.ndarray) -> float:
    """Largest residual of ``kkt @ solution = rhs``, each row relative to the size of its terms.

    Row-relative (a backward error) so that it does not depend on the polytope's scale: β
    scales like 1 / h, ν like h.
    """
    terms = np.abs(kkt) @ np.abs(solution) + np.abs(rhs)
    defect = np.abs(rhs - kkt @ solution)
    return float(np.max(defect / np.maximum(terms, np.finfo(float).tiny)))


# --------------------------------------------------------------------------- loop


@dataclass
class LoopAttempt:
    """Outcome of rebuilding the loop of one candidate (see :func:`loop_from_candidate`).

    ``loop`` is ``None`` when no start point fits; ``reason`` then says what failed, with the
    numbers (inconsistent start-point equations, or how far the best start point leaves the
    polytope, at which loop vertex and facet).
    """

    loop: np.ndarray | None
    reason: str
    equation_residual: float = 0.0  # |a_eq x0 - b_eq| of the least-squares start point
    max_violation: float = 0.0  # largest facet violation of a loop vertex (<= 0 inside)


def loop_from_candidate(
    candidate: Candidate,
    normals: np.ndarray,
    offsets: np.ndarray,
    capacity: float | None = None,
    *,
    tol: float = 1e-10,
) -> LoopAttempt:
    """Rebuild the closed characteristic of a maximiser (σ, β) and find its start point.

    Segment ``a`` lies on facet σ(a) with displacement ``D_a = 2 c β_a J n_σ(a)``, so with
    ``C_a = D_0 + … + D_{a-1}`` the loop vertices are ``x0 + C_a``. The start point ``x0``
    must satisfy the *equalities* ``<n_σ(a), x0 + C_a> = h_σ(a)`` (segment ``a`` starts on its
    facet, hence stays on it: ``<n, J n> = 0``) and the *inequalities* "every loop vertex lies
    in the polytope".

    The equalities are usually overdetermined (one per segment, ``2n`` unknowns) and are
    consistent only up to rounding: at an exact stationary point of Q they are the KKT
    conditions, ``H β`` in the row space of ``A_S``, with ``x0`` the (scaled) closure
    multiplier. A general LP solver handed those redundant rows with a tight feasibility
    tolerance can declare the system infeasible (HiGHS presolve did, at 1e-10, on perturbed
    Lagrangian products: "no start point" on loops that fit to 4e-16). So the equalities are
    solved here by an SVD, which also measures their inconsistency, and only the directions
    they leave free (the null space of the active normals, present when the loop visits
    facets whose normals do not span R^2n) go to a small LP that *minimises the largest
    violation* rather than asking for feasibility: that LP is always feasible and bounded,
    and the violation of its answer is judged here against ``tol``, not by the solver.

    Parameters
    ----------
    candidate : Candidate
        The pair (σ, β); facets with ``β_a <= BETA_RTOL max β`` are dropped.
    normals, offsets : numpy.ndarray
        H-representation with the origin inside (unit normals, positive heights).
    capacity : float, optional
        The action ``c`` to build the loop for; by default the candidate's own
        ``1 / (2 Q(σ, β))``, which is the only choice for which the loop's action (``2 c² Q``)
        equals ``c``.
    tol : float
        Absolute tolerance for the equations and the facet inequalities.

    Returns
    -------
    LoopAttempt
        The closed loop (``(m + 1, 2n)``, in the coordinates of ``normals``/``offsets``) or
        ``None`` with the reason.
    """
    if capacity is None:
        capacity = 1.0 / (2.0 * candidate.q_value)
    weights = candidate.weights
    keep = weights > BETA_RTOL * np.max(weights)
    order = np.array(candidate.order)[keep]
    dim = normals.shape[1]
    steps = 2.0 * capacity * weights[keep][:, None] * reeb_directions(normals[order])
    cumulative = np.vstack([np.zeros(dim), np.cumsum(steps, axis=0)[:-1]])  # (m, d)
    a_eq = normals[order]
    b_eq = offsets[order] - np.einsum("ad,ad->a", a_eq, cumulative)
    # vertex a vs facet i: <n_i, x0> <= h_i - <n_i, C_a>
    slack_base = offsets[None, :] - cumulative @ normals.T  # (m, F)

    # least-squares solution of the equalities, and the directions they leave free
    u, s, vt = np.linalg.svd(a_eq, full_matrices=True)
    rank = int(np.sum(s > START_RANK_RTOL * s[0]))
    start = vt[:rank].T @ ((u[:, :rank].T @ b_eq) / s[:rank])
    equation_residual = float(np.max(np.abs(a_eq @ start - b_eq)))
    if equation_residual > tol:
        return LoopAttempt(
            None,
            f"start-point equations inconsistent (residual {equation_residual:.3g} > {tol:.3g}):"
            " (σ, β) is not a stationary point of Q to working precision",
            equation_residual,
        )
    free = vt[rank:].T  # (d, d - rank)
    if free.shape[1]:
        start = _min_violation_start(start, free, normals, slack_base)
    violation = normals @ start - slack_base  # (m, F), <= 0 inside
    max_violation = float(np.max(violation))
    if max_violation > tol:
        vertex, facet = np.unravel_index(int(np.argmax(violation)), violation.shape)
        return LoopAttempt(
            None,
            f"loop vertex {vertex} leaves the polytope through facet {facet} by "
            f"{max_violation:.3g} > {tol:.3g} for every start point",
            equation_residual,
            max_violation,
        )
    return LoopAttempt(close_loop(start + cumulative), "", equation_residual, max_violation)


def _min_violation_start(
    start: np.ndarray, free: np.ndarray, normals: np.ndarray, slack_base: np.ndarray
) -> np.ndarray:
    """Move ``start`` within ``start + span(free)`` to minimise the largest facet violation.

    LP in ``(y, t)``: minimise ``t`` subject to ``<n_i, start + free y> - t <= slack_base[a, i]``
    for every loop vertex ``a`` and facet ``i``. It is always feasible, and bounded (the
    polytope is bounded, and rows of the loop's own facets do not depend on ``y``). The
    solver's answer is then polished: the rows it made (nearly) tight are solved exactly by
    least squares within the free directions, which removes the solver's tolerance-sized
    errors from the touching constraints; the polished point is kept only if it is no worse.
    """
    k = free.shape[1]
    rows = np.tile(normals @ free, (slack_base.shape[0], 1))  # (m F, k)
    rhs = (slack_base - (normals @ start)[None, :]).reshape(-1)
    result = linprog(
        np.r_[np.zeros(k), 1.0],
        A_ub=np.hstack([rows, -np.ones((rows.shape[0], 1))]),
        b_ub=rhs,
        bounds=[(None, None)] * (k + 1),
        method="highs",
    )
    if result.status != 0:  # numerical trouble only; the caller reports the violation
        return start
    y = result.x[:k]
    worst = float(np.max(rows @ y - rhs))
    scale = max(1.0, float(np.max(np.abs(slack_base))))
    tight = (rhs - rows @ y) <= worst + 1e-7 * scale
    correction, *_ = np.linalg.lstsq(rows[tight], rhs[tight] - rows[tight] @ y, rcond=None)
    if float(np.max(rows @ (y + correction) - rhs)) <= worst:
        y = y + correction
    return start + free @ y


# --------------------------------------------------------------------------- registry entry


def _translated(polytope: Polytope) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normals, offsets about the vertex centroid (an interior point), and that centroid."""
    vertices = np.asarray(polytope.vertices, dtype=float)
    centre = vertices.mean(axis=0)
    normals = np.asarray(polytope.normals, dtype=float)
    return normals, np.asarray(polytope.offsets, dtype=float) - normals @ centre, centre


@dataclass
class _Verified:
    """The first candidate whose loop passed :func:`verify_loop`, and what failed before it."""

    candidate: Candidate
    source: str  # "polished" or "search": which β of the candidate gave the loop
    loop: np.ndarray
    certificate: dict[str, Any]
    failures: list[str]
    attempts: int  # loops built (polished and search β count separately)


def _first_verified(
    polytope: Polytope,
    candidates: list[Candidate],
    normals: np.ndarray,
    offsets: np.ndarray,
    centre: np.ndarray,
    rtol: float,
) -> _Verified:
    """Try the maximisers, best first, until one gives a loop that passes the certificate.

    Each search candidate is tried twice at most: first its polished β
    (:func:`polish_candidate`: a genuine point of M(K) and stationary point on its support,
    so its loop closes and its start-point equations are consistent to rounding), then, if
    polishing failed or that loop did not verify, the search's own β. The second try matters
    when the polished support is numerically singular (e.g. a loop over two facets that are
    antiparallel up to 1e-10): the search's β then sits on the rank-reduced flat, off by far
    less than the certificate tolerance, and is the better-conditioned description.

    The published value is always the tried candidate's own ``1 / (2 Q)``: its loop has
    exactly that action (the action of the rebuilt loop is ``2 c² Q``), so the certificate
    checks the value that is published. A polished β is used only when its Q is not below the
    search's (minus ``TIE_RTOL``), and the search keeps only candidates within ``TIE_RTOL`` of
    the largest Q found, so the published value is within ``2 TIE_RTOL`` (relative) of
    ``1 / (2 max Q)``: a candidate that cannot be realised is skipped, never allowed to set a
    value for a loop rebuilt from another.

    Raises
    ------
    HaimKislevError
        No candidate gave a verified loop; the message names the first failures (which
        equations were inconsistent, which vertex left through which facet and by how much,
        which certificate check failed).
    """
    tol = polytope.tolerance(rtol)
    omega = omega_matrix(normals)
    failures: list[str] = []
    attempts = 0
    for candidate in candidates[:MAX_LOOP_CANDIDATES]:
        for source in ("search", "polished"):
            attempt_of = candidate
            if source == "polished":
                polished = polish_candidate(candidate, normals, offsets, omega)
                if polished.candidate is None:
                    failures.append(f"{candidate.order} polished: {polished.reason}")
                    continue
                attempt_of = polished.candidate
                if attempt_of.q_value < candidate.q_value * (1 - TIE_RTOL):
                    failures.append(
                        f"{candidate.order} polished: Q fell from {candidate.q_value:.15g} "
                        f"to {attempt_of.q_value:.15g} (support {attempt_of.order})"
                    )
                    continue
            attempts += 1
            attempt = loop_from_candidate(attempt_of, normals, offsets, tol=tol)
            if attempt.loop is None:
                failures.append(f"{attempt_of.order} {source}: {attempt.reason}")
                continue
            loop = attempt.loop + centre
            capacity = 1.0 / (2.0 * attempt_of.q_value)
            try:
                certificate = verify_loop(polytope, loop, capacity, rtol=rtol)
            except ValueError as exc:
                failures.append(f"{attempt_of.order} {source}: certificate: {exc}")
                continue
            return _Verified(attempt_of, source, loop, certificate, failures, attempts)
    tried = min(len(candidates), MAX_LOOP_CANDIDATES)
    raise HaimKislevError(
        f"none of the {tried} maximisers (of {len(candidates)}, max Q "
        f"{candidates[0].q_value:.15g}) gave a verified loop: "
        + "; ".join(failures[:MAX_REPORTED_FAILURES])
    )


def applicability(polytope: Polytope) -> str | None:
    """``haim-kislev`` applies to every polytope of even dimension."""
    return even_dimension(polytope)


def compute(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    inputs: Any = None,
    rtol: float = 1e-9,
    max_cycles: int | None = None,
) -> dict[str, Any]:
    """EHZ capacity by Haim-Kislev's formula, with a verified minimal-action loop.

    Parameters
    ----------
    polytope : Polytope
        Convex polytope of even dimension.
    time_budget : float, optional
        Seconds before :class:`TimeBudgetExceeded` is raised.
    inputs : ignored
        Part of the registry signature.
    rtol : float
        Relative tolerance of the loop certificate.
    max_cycles : int, optional
        Work budget in facet cycles (see :func:`maximise_q`): deterministic, unlike
        ``time_budget``, and spent before any stationary point is solved.

    Returns
    -------
    dict
        ``value``, ``loop``, ``seconds``, ``sigma`` (facet indices in loop order), ``beta``
        (their weights), ``diagnostics``.
    """
    del inputs
    reason = applicability(polytope)
    if reason is not None:
        raise HaimKislevError(reason)
    started = time.perf_counter()
    normals, offsets, centre = _translated(polytope)
    candidates, stats = maximise_q(
        normals, offsets, polytope.incidence, time_budget=time_budget, max_cycles=max_cycles
    )
    if not candidates:
        raise HaimKislevError("no admissible (σ, β) with Q > 0 found")
    found = _first_verified(polytope, candidates, normals, offsets, centre, rtol)
    candidate, loop, certificate = found.candidate, found.loop, found.certificate
    capacity = 1.0 / (2.0 * candidate.q_value)
    seconds = time.perf_counter() - started
    return {
        "value": capacity,
        "loop": loop_to_list(loop),
        "seconds": seconds,
        "sigma": list(candidate.order),
        "beta": [float(b) for b in candidate.weights],
        "diagnostics": {
            "facets": int(normals.shape[0]),
            "cycles_examined": stats.cycles,
            "supports": stats.supports,
            "supports_infeasible": stats.supports_infeasible,
            "candidates_solved": stats.candidates_solved,
            "candidates_admissible": stats.candidates_admissible,
            "singular_systems": stats.singular,
            "support_size": len(candidate.order),
            "max_q": candidates[0].q_value,
            "enumeration_seconds": stats.enumeration_seconds,
            "solve_seconds": stats.solve_seconds,
            "candidates_per_second": stats.candidates_solved / max(stats.solve_seconds, 1e-9),
            "loop_attempts": found.attempts,
            "loop_failures": found.failures[:MAX_REPORTED_FAILURES],
            "loop_from": found.source,
            "certificate": certificate,
        },
    }


def ensure_compiled() -> None:
    """Load the compiled stationary-point kernel (the algorithm's ``warm_up``: a worker loads
    it once before forking job children, instead of once per large job)."""
    from viterbo.invariants import haim_kislev_kernel

    if not haim_kislev_kernel.solve_cycles.signatures:
        haim_kislev_kernel.warm_up()


register(
    Algorithm(
        quantity="capacity",
        name="haim-kislev",
        method="haim-kislev-formula",
        compute=compute,
        applicability=applicability,
        exact=True,
        warm_up=ensure_compiled,
        work_limits=("max_cycles",),
        description="Haim-Kislev's formula: max of Q over facet cycles, exact stationary points",
    )
)
