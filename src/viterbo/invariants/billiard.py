"""EHZ capacity of Lagrangian products of polygons by Minkowski billiards (algorithm ``billiard``).

MATH.md §3.2 (Rudolf 2022, after Bezdek–Bezdek): for convex K, T in R^2,

    c(K x T) = min { Σ_j h_T(q_{j+1} - q_j) : closed polygons q_1 … q_m, m <= 3,
                     that cannot be translated into int K },

h_T(v) = max_{p in T} <v, p>. Such a polygon touches edges of K whose outer normals contain 0
in their convex hull, so the minimal "balanced" edge sets are antiparallel pairs and triples
whose normals positively span the plane. For every such pair, and every triple in both cyclic
orders, an LP (q_j on the closed edge e_j, one epigraph variable per step, one constraint per
vertex of T) gives the shortest polygon; a vertex-to-edge 2-bounce is a degenerate triple.

Edge sets are visited in increasing order of a lower bound (the sum over consecutive edge
pairs of min h_T over their difference parallelogram, evaluated exactly and vectorised), and
those whose bound reaches the incumbent are skipped: the value is still the exact minimum.

4D loop: q moves along -N_T(p) on T-facets and p along +N_K(q) on K-facets (J(q,p) = (-p, q)),
so the loop runs through the billiard polygon backwards. The momenta p_j (p_j maximises
<q_{j+1} - q_j, .> over T; p_{j-1} - p_j lies in the normal cone of K at q_j) are, in this
order: the unique maximising vertices, the LP duals (convex weights on T's vertices), or a
small feasibility LP; they are snapped exactly onto T's maximising vertex or edge, and the
loop is checked by :func:`~viterbo.invariants.certificate.verify_loop`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import block_diag

from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.loops import close_loop, loop_to_list
from viterbo.invariants.registry import Algorithm, Deadline, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}
_ANTIPARALLEL_TOL = 1e-9  # |ν_i + ν_j| for an antiparallel pair (unit normals)
_TIE_RTOL = 1e-9  # edge tuples within this of the minimum are tried for the loop
_FIRST_BATCH = 16  # edge tuples in the first block LP; later rounds double it
# why billiard does not apply to a 4D polytope (reported by applicability, raised by compute)
NOT_A_LAGRANGIAN_PRODUCT = "not a Lagrangian product K x T ((q1,q2) x (p1,p2))"


class BilliardError(ValueError):
    """The billiard computation failed (not a product, or no loop could be certified)."""


@dataclass(frozen=True)
class Polygon:
    """A convex polygon as the billiard needs it: vertices and edges with endpoints."""

    vertices: np.ndarray  # (m, 2)
    normals: np.ndarray  # (E, 2) unit outer normals of the edges
    offsets: np.ndarray  # (E,)
    starts: np.ndarray  # (E, 2) one endpoint of each edge
    ends: np.ndarray  # (E, 2) the other endpoint


_SPLIT_ATOL = 1e-12  # a unit normal lies in a factor plane when its other entries are below this


def product_factors(polytope: Polytope) -> tuple[Polygon, Polygon, np.ndarray, np.ndarray] | None:
    """The factors K (q-plane) and T (p-plane) of a Lagrangian product, read off its faces.

    Cheaper than :func:`viterbo.geometry.as_lagrangian_product` (no new polytopes are built):
    each facet with normal in the q-plane is an edge of K, and its endpoints are the extreme
    q-projections of the facet's vertices; likewise for T.

    Returns
    -------
    (K, T, k_facets, t_facets) or None
        The polygons and the product's facet indices of their edges; ``None`` when the
        polytope is not a 4D Lagrangian product.
    """
    if polytope.dim != 4:
        return None
    normals = np.asarray(polytope.normals, dtype=float)
    in_q = np.all(np.abs(normals[:, 2:]) <= _SPLIT_ATOL, axis=1)
    in_p = np.all(np.abs(normals[:, :2]) <= _SPLIT_ATOL, axis=1)
    if not np.all(in_q | in_p) or in_q.sum() < 3 or in_p.sum() < 3:
        return None
    vertices = np.asarray(polytope.vertices, dtype=float)
    incidence = np.asarray(polytope.incidence, dtype=bool)
    offsets = np.asarray(polytope.offsets, dtype=float)
    tol = float(polytope.tolerance(1e-9))
    factors = []
    for facets, cols in ((np.flatnonzero(in_q), [0, 1]), (np.flatnonzero(in_p), [2, 3])):
        edge_normals = normals[facets][:, cols]
        edge_normals = edge_normals / np.linalg.norm(edge_normals, axis=1)[:, None]
        starts, ends = [], []
        for facet, normal in zip(facets, edge_normals, strict=True):
            points = vertices[incidence[facet]][:, cols]
            along = points @ np.array([-normal[1], normal[0]])
            starts.append(points[np.argmin(along)])
            ends.append(points[np.argmax(along)])
        corners = np.vstack(starts)  # every vertex starts exactly one edge
        factors.append(
            Polygon(corners, edge_normals, offsets[facets], np.array(starts), np.array(ends))
        )
        if np.any(np.linalg.norm(factors[-1].ends - factors[-1].starts, axis=1) <= tol):
            return None
    return factors[0], factors[1], np.flatnonzero(in_q), np.flatnonzero(in_p)


def support(vertices: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Support function h_T(v) = max_p <v, p> over the rows ``vertices`` (vectorised over v)."""
    return np.max(directions @ vertices.T, axis=-1)


def balanced_tuples(normals: np.ndarray) -> list[tuple[int, ...]]:
    """Antiparallel edge pairs and positively spanning triples (both cyclic orders).

    Parameters
    ----------
    normals : numpy.ndarray
        ``(E, 2)`` unit outer normals of K's edges.

    Returns
    -------
    list of tuple of int
        Pairs ``(i, j)`` with ``ν_i = -ν_j``; triples ``(i, j, k)`` and ``(i, k, j)`` with
        0 in the open triangle of their normals.
    """
    count = normals.shape[0]
    tuples: list[tuple[int, ...]] = []
    for i, j in itertools.combinations(range(count), 2):
        if np.linalg.norm(normals[i] + normals[j]) <= _ANTIPARALLEL_TOL:
            tuples.append((i, j))
    cross = normals[:, None, 0] * normals[None, :, 1] - normals[:, None, 1] * normals[None, :, 0]
    for i, j, k in itertools.combinations(range(count), 3):
        signs = np.sign([cross[i, j], cross[j, k], cross[k, i]])
        if signs[0] != 0 and signs[0] == signs[1] == signs[2]:
            tuples.extend([(i, j, k), (i, k, j)])
    return tuples


def _segment_minima(
    starts: np.ndarray, ends: np.ndarray, t_vertices: np.ndarray, t_normals: np.ndarray
) -> np.ndarray:
    """min of h_T over each segment [starts[s], ends[s]] (T containing 0 in its interior).

    h_T is linear on each normal cone of T's vertices; the cones are bounded by the rays
    along T's edge normals, so the minimum over a segment sits at an endpoint or where the
    segment crosses one of those rays.
    """
    direction = ends - starts  # (S, 2)
    # crossing of s + t (e - s) with the ray r * μ (r >= 0): cross(s + t d, μ) = 0
    cross_s = (
        starts[:, None, 0] * t_normals[None, :, 1] - starts[:, None, 1] * t_normals[None, :, 0]
    )
    cross_d = (
        direction[:, None, 0] * t_normals[None, :, 1]
        - direction[:, None, 1] * t_normals[None, :, 0]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.abs(cross_d) > 1e-300, -cross_s / cross_d, -1.0)
    t = np.clip(t, 0.0, 1.0)  # clipped crossings are endpoints again: harmless extra points
    params = np.concatenate([np.zeros((len(starts), 1)), np.ones((len(starts), 1)), t], axis=1)
    points = starts[:, None, :] + params[..., None] * direction[:, None, :]  # (S, P, 2)
    return np.min(support(t_vertices, points), axis=1)


def pair_lower_bounds(k: Polygon, t_vertices: np.ndarray, t_normals: np.ndarray) -> np.ndarray:
    """bound[i, j] = min h_T(y - x) over x on edge i, y on edge j (T centred at 0).

    The set {y - x} is a parallelogram; h_T >= 0 is zero only at 0, so the minimum is 0 when
    the parallelogram contains 0 (the edges meet) and otherwise lies on one of its 4 sides.
    """
    count = k.normals.shape[0]
    a, b = k.starts, k.ends
    i, j = np.meshgrid(np.arange(count), np.arange(count), indexing="ij")
    i, j = i.ravel(), j.ravel()
    # corners of {y - x}: y in [a_j, b_j], x in [a_i, b_i]
    c00, c01 = a[j] - a[i], b[j] - a[i]
    c11, c10 = b[j] - b[i], a[j] - b[i]
    sides_from = np.concatenate([c00, c01, c11, c10])
    sides_to = np.concatenate([c01, c11, c10, c00])
    minima = _segment_minima(sides_from, sides_to, t_vertices, t_normals).reshape(4, -1).min(axis=0)
    # 0 inside the parallelogram (possibly degenerate): the edges intersect
    meet = _segments_intersect(a[i], b[i], a[j], b[j])
    minima[meet] = 0.0
    return np.maximum(minima, 0.0).reshape(count, count)


def _segments_intersect(
    a1: np.ndarray, b1: np.ndarray, a2: np.ndarray, b2: np.ndarray
) -> np.ndarray:
    """Whether closed segments [a1, b1] and [a2, b2] meet (rows; edges of one convex polygon)."""
    scale = max(1.0, float(np.max(np.abs(np.concatenate([a1, b1, a2, b2])))))
    tol = 1e-12 * scale
    shared = np.zeros(len(a1), dtype=bool)
    for p, q in ((a1, a2), (a1, b2), (b1, a2), (b1, b2)):
        shared |= np.linalg.norm(p - q, axis=1) <= tol
    # distinct edges of a convex polygon meet only at a shared vertex; an edge meets itself
    same = np.all(np.abs(a1 - a2) <= tol, axis=1) & np.all(np.abs(b1 - b2) <= tol, axis=1)
    return shared | same


def _tuple_block(
    edges: tuple[int, ...], k: Polygon, t_vertices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Constraint block of one edge tuple: s_j >= <q_{j+1} - q_j, p_v> for all vertices p_v.

    Variables (t_1..t_m, s_1..s_m) with q_j = a_j + t_j (b_j - a_j).
    """
    m = len(edges)
    idx = np.array(edges)
    a, d = k.starts[idx], k.ends[idx] - k.starts[idx]
    nv = t_vertices.shape[0]
    block = np.zeros((m * nv, 2 * m))
    rhs = np.empty(m * nv)
    for j in range(m):
        nxt = (j + 1) % m
        rows = slice(j * nv, (j + 1) * nv)
        block[rows, nxt] += t_vertices @ d[nxt]
        block[rows, j] -= t_vertices @ d[j]
        block[rows, m + j] = -1.0
        rhs[rows] = -(t_vertices @ (a[nxt] - a[j]))
    return block, rhs


def shortest_polygons(
    tuples: list[tuple[int, ...]], k: Polygon, t_vertices: np.ndarray
) -> list[tuple[float, np.ndarray, np.ndarray] | None]:
    """Shortest closed polygon with q_j on edge ``e_j`` in the T-length, for several edge tuples.

    Each tuple is an LP (minimise Σ s_j, see :func:`_tuple_block`, 0 <= t_j <= 1). The LPs
    share no variable, so they are solved together as one block-diagonal LP whose optimum is
    optimal in every block (the objective is the sum of the blocks' objectives) -- one HiGHS
    call instead of one per tuple.

    Returns
    -------
    list
        Per tuple: the exact T-length of its optimal polygon (recomputed from the vertices),
        the ``(m, 2)`` bounce points and ``(m, 2)`` momenta from the LP duals (in the
        coordinates of ``t_vertices``); ``None`` when the LP failed.
    """
    blocks, rhs, bounds = [], [], []
    for edges in tuples:
        block, b = _tuple_block(edges, k, t_vertices)
        blocks.append(block)
        rhs.append(b)
        bounds += [(0.0, 1.0)] * len(edges) + [(None, None)] * len(edges)
    cost = np.concatenate([np.r_[np.zeros(len(e)), np.ones(len(e))] for e in tuples])
    result = linprog(
        cost,
        A_ub=block_diag(blocks, format="csc"),
        b_ub=np.concatenate(rhs),
        bounds=bounds,
        method="highs",
        options=_LP_OPTIONS,
    )
    if result.status != 0:
        return [None] * len(tuples)
    # the duals of the epigraph rows are convex weights on T's vertices: the momenta p_j of
    # the reflection law (up to the orientation caveat, which verify_loop checks)
    duals = -np.asarray(result.ineqlin.marginals, dtype=float)
    outcomes: list[tuple[float, np.ndarray, np.ndarray] | None] = []
    offset = row = 0
    nv = t_vertices.shape[0]
    for edges in tuples:
        m = len(edges)
        idx = np.array(edges)
        a, d = k.starts[idx], k.ends[idx] - k.starts[idx]
        points = a + np.clip(result.x[offset : offset + m], 0.0, 1.0)[:, None] * d
        offset += 2 * m
        weights = np.clip(duals[row : row + m * nv].reshape(m, nv), 0.0, None)
        row += m * nv
        totals = weights.sum(axis=1, keepdims=True)
        momenta = np.where(
            totals > 0, weights @ t_vertices / np.where(totals > 0, totals, 1.0), 0.0
        )
        steps = np.roll(points, -1, axis=0) - points
        outcomes.append((float(np.sum(support(t_vertices, steps))), points, momenta))
    return outcomes


def _vertex_momenta(points: np.ndarray, t: Polygon, tol: float) -> np.ndarray | None:
    """p_j = the unique vertex of T maximising <q_{j+1} - q_j, .>; ``None`` on any tie."""
    steps = np.roll(points, -1, axis=0) - points
    values = steps @ t.vertices.T  # (m, V)
    top = np.max(values, axis=1)
    ties = np.sum(values >= top[:, None] - tol * np.linalg.norm(steps, axis=1)[:, None], axis=1)
    if np.any(ties != 1) or np.any(np.linalg.norm(steps, axis=1) <= tol):
        return None
    return t.vertices[np.argmax(values, axis=1)]


def _momenta(points: np.ndarray, k: Polygon, t: Polygon, tol: float) -> np.ndarray | None:
    """Momenta p_j for the billiard polygon ``points`` (see module docstring), or ``None``.

    Feasibility LP in (p_1..p_m, μ): p_j in T, <s_j, p_j> >= h_T(s_j) with
    s_j = q_{j+1} - q_j, and p_{j-1} - p_j = Σ_e μ_{j,e} ν_e (μ >= 0) over the edges e of K
    through q_j. The solution is snapped exactly onto T's maximising vertex / edge.
    """
    m = points.shape[0]
    steps = np.roll(points, -1, axis=0) - points
    heights = support(t.vertices, steps)
    through = [np.flatnonzero(np.abs(k.normals @ q - k.offsets) <= tol) for q in points]
    n_mu = sum(len(e) for e in through)
    n_var = 2 * m + n_mu
    a_ub, b_ub = [], []
    for j in range(m):
        block = np.zeros((t.normals.shape[0] + 1, n_var))
        block[:-1, 2 * j : 2 * j + 2] = t.normals
        block[-1, 2 * j : 2 * j + 2] = -steps[j]
        a_ub.append(block)
        b_ub.append(np.concatenate([t.offsets, [-heights[j]]]))
    a_eq = np.zeros((2 * m, n_var))
    col = 2 * m
    for j in range(m):
        prev = (j - 1) % m
        a_eq[2 * j : 2 * j + 2, 2 * prev : 2 * prev + 2] += np.eye(2)
        a_eq[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] -= np.eye(2)
        for e in through[j]:
            a_eq[2 * j : 2 * j + 2, col] = -k.normals[e]
            col += 1
    bounds = [(None, None)] * (2 * m) + [(0.0, None)] * n_mu
    result = linprog(
        np.zeros(n_var),
        A_ub=np.vstack(a_ub),
        b_ub=np.concatenate(b_ub),
        A_eq=a_eq,
        b_eq=np.zeros(2 * m),
        bounds=bounds,
        method="highs",
        options=_LP_OPTIONS,
    )
    if result.status != 0:
        return None
    return _snap_momenta(result.x[: 2 * m].reshape(m, 2), points, t, tol)


def _snap_momenta(momenta: np.ndarray, points: np.ndarray, t: Polygon, tol: float) -> np.ndarray:
    """Put each p_j exactly on T's maximising vertex or edge for the step q_{j+1} - q_j.

    Exactness here makes the loop's action equal Σ h_T(q_{j+1} - q_j) to rounding.
    """
    momenta = momenta.copy()
    m = points.shape[0]
    steps = np.roll(points, -1, axis=0) - points
    heights = support(t.vertices, steps)
    for j in range(m):
        if np.linalg.norm(steps[j]) <= tol:
            continue  # a zero step leaves p_j free inside T
        values = t.vertices @ steps[j]
        maximisers = np.flatnonzero(values >= heights[j] - tol * np.linalg.norm(steps[j]))
        if maximisers.size == 1:
            momenta[j] = t.vertices[maximisers[0]]
        else:  # an edge of T normal to the step: project onto it
            p0, p1 = t.vertices[maximisers[0]], t.vertices[maximisers[-1]]
            lam = float(np.clip((momenta[j] - p0) @ (p1 - p0) / ((p1 - p0) @ (p1 - p0)), 0.0, 1.0))
            momenta[j] = p0 + lam * (p1 - p0)
    return momenta


def _momenta_candidates(
    points: np.ndarray, dual_momenta: np.ndarray, k: Polygon, t: Polygon, tol: float
) -> Iterator[tuple[str, np.ndarray]]:
    """(method, momenta) to try for a billiard polygon, cheapest first (generated lazily).

    Unique maximising vertices of T; the LP duals snapped onto T; a feasibility LP over T's
    maximising edges and K's normal cones (:func:`_momenta`).
    """
    vertex = _vertex_momenta(points, t, tol)
    if vertex is not None:
        yield "unique-vertices", vertex
    yield "lp-duals", _snap_momenta(dual_momenta, points, t, tol)
    solved = _momenta(points, k, t, tol)
    if solved is not None:
        yield "momenta-lp", solved


def billiard_loop(points: np.ndarray, momenta: np.ndarray) -> np.ndarray:
    """The closed 4D loop (q1, q2, p1, p2) of a billiard polygon and its momenta.

    Vertices, for j = m, m-1, …, 1: (q_{j+1}, p_j), (q_j, p_j) -- the q-step at p_j runs
    backwards along the billiard polygon, the p-step at q_j from p_j to p_{j-1}.
    """
    m = points.shape[0]
    rows = []
    for j in range(m - 1, -1, -1):
        rows.append(np.concatenate([points[(j + 1) % m], momenta[j]]))
        rows.append(np.concatenate([points[j], momenta[j]]))
    return close_loop(np.array(rows))


def applicability(polytope: Polytope) -> str | None:
    """Applies to 4D Lagrangian products K x T of polygons."""
    if polytope.dim != 4:
        return f"billiard needs dimension 4, got {polytope.dim}"
    if product_factors(polytope) is None:
        return NOT_A_LAGRANGIAN_PRODUCT
    return None


def compute(
    polytope: Polytope, *, time_budget: float | None = None, inputs: Any = None, rtol: float = 1e-9
) -> dict[str, Any]:
    """Capacity of a Lagrangian product K x T by the exact Minkowski-billiard LP enumeration.

    Parameters
    ----------
    polytope : Polytope
        A Lagrangian product (see :func:`applicability`).
    time_budget : float, optional
        Seconds before :class:`TimeBudgetExceeded` is raised.
    inputs : ignored
        Part of the registry signature.
    rtol : float
        Relative tolerance of the loop certificate.

    Returns
    -------
    dict
        ``value``, ``loop``, ``seconds``, ``bounce_points`` (the billiard polygon in K),
        ``edges`` (the product's facet indices of the bounce edges of K), ``diagnostics``.
    """
    del inputs
    deadline = Deadline(time_budget)
    factors = product_factors(polytope)
    if factors is None:
        raise BilliardError(NOT_A_LAGRANGIAN_PRODUCT)
    k, t, k_facets, _ = factors
    centre = t.vertices.mean(axis=0)
    t_centred = t.vertices - centre
    tuples = balanced_tuples(k.normals)
    pair_bound = pair_lower_bounds(k, t_centred, t.normals)
    bounds = np.array(
        [sum(pair_bound[e[j], e[(j + 1) % len(e)]] for j in range(len(e))) for e in tuples]
    )
    order = list(np.argsort(bounds, kind="stable"))
    best = np.inf
    solved: list[tuple[float, tuple[int, ...], np.ndarray, np.ndarray]] = []
    lps, rounds, batch = 0, 0, _FIRST_BATCH
    while order:
        # tuples whose lower bound reaches the incumbent cannot improve it
        order = [i for i in order if bounds[i] < best * (1 - 1e-12)]
        if not order:
            break
        deadline.check("billiard LPs")
        chosen, order = order[:batch], order[batch:]
        batch *= 2
        rounds += 1
        lps += len(chosen)
        # centring T changes no closed polygon's length and keeps the LPs well scaled
        for index, outcome in zip(
            chosen, shortest_polygons([tuples[i] for i in chosen], k, t_centred), strict=True
        ):
            if outcome is None:
                continue
            solved.append((outcome[0], tuples[index], outcome[1], outcome[2] + centre))
            best = min(best, outcome[0])
    if not solved:
        raise BilliardError("no balanced edge set of K gave a billiard polygon")
    solved.sort(key=lambda item: item[0])
    tol = float(polytope.tolerance(rtol))
    failures = []
    for length, edges, points, dual_momenta in solved:
        if length > best * (1 + _TIE_RTOL):
            break
        certificate = None
        for method, momenta in _momenta_candidates(points, dual_momenta, k, t, tol):
            loop = billiard_loop(points, momenta)
            try:
                certificate = verify_loop(polytope, loop, length, rtol=rtol)
                momenta_source = method
                break
            except ValueError as exc:
                failures.append(f"{edges}: {exc}")
        if certificate is None:
            continue
        return {
            "value": length,
            "loop": loop_to_list(loop),
            "seconds": deadline.elapsed,
            "bounce_points": [[float(x) for x in q] for q in points],
            "edges": [int(k_facets[e]) for e in edges],
            "diagnostics": {
                "edges_k": int(k.normals.shape[0]),
                "vertices_t": int(t.vertices.shape[0]),
                "balanced_tuples": len(tuples),
                "lps_solved": lps,
                "lp_calls": rounds,
                "bounces": len(edges),
                "loop_attempts": len(failures) + 1,
                "momenta_from": momenta_source,
                "certificate": certificate,
            },
        }
    raise BilliardError(
        "no minimal billiard polygon gave a verified loop: " + "; ".join(failures[:3])
    )


register(
    Algorithm(
        quantity="capacity",
        name="billiard",
        method="minkowski-billiards",
        compute=compute,
        applicability=applicability,
        exact=True,
        description="Lagrangian products K x T: exact Minkowski-billiard LPs over balanced edge sets",
    )
)
