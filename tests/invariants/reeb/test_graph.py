"""The batched Reeb flow-graph build equals the per-edge reference build, field by field.

``_reference_*`` below is the scalar implementation that ``reeb.graph`` used before it was
batched (one node / one edge at a time, numpy convex hull, ``clip_many`` per edge), kept here
as the oracle.  Nodes and edges must come in the same order with the same combinatorics, and
every number must agree to 1e-12 (relative).  Domains are compared as *sets* (Hausdorff
distance below 1e-12): on the cross-polytope some constraint lines lie within ``tol`` of a
domain edge, where Sutherland–Hodgman's cut parameter ``(v_p - tol) / (v_p - v_q)`` has both
values ``~ tol`` and the last-bit rounding of the batched constraint rows moves or adds a
collinear point on that edge (the same set, another vertex list).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.invariants.capacity_cases import (
    ch_six_vertex,
    cross_polytope,
    random_polytope,
    simplex,
    twenty_four_cell,
)
from viterbo.geometry import Polytope
from viterbo.geometry.symplectic import omega, random_symplectic_matrix
from viterbo.invariants import reeb
from viterbo.invariants.reeb.graph import (
    J4,
    FlowGraph,
    _plane_basis,
    transition_matrices,
)
from viterbo.invariants.reeb.polygon import (
    EMPTY,
    clip_many,
    convex_hull,
    distance_to,
    unit_halfplanes,
)
from viterbo.invariants.reeb.rotation import transition_matrix

RTOL = 1e-12
# An edge's domain may differ from the reference by a tol-thin sliver where a vertex lies
# exactly on a constraint line (the CH six-vertex polytope's rational coordinates, the
# cross-polytope's and 24-cell's symmetric ones): one build keeps the sliver, the other
# collapses it. How many such knife edges there are depends on the BLAS kernels' rounding
# (0 or 2 of 51 on the six-vertex polytope), so the test checks each one's mathematics -- the
# same set within tol, both thin -- and does not count them.

# --------------------------------------------------------------------------------------------
# reference implementation (the scalar build before batching)
# --------------------------------------------------------------------------------------------


def _reference_convex_hull(points: np.ndarray, tol: float) -> np.ndarray:
    """The numpy monotone-chain hull that ``reeb.polygon.convex_hull`` replaced."""
    if len(points) == 0:
        return EMPTY
    pts = np.unique(np.asarray(points, dtype=float), axis=0)
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    extent = float(np.max(np.ptp(pts, axis=0))) if len(pts) > 1 else 0.0
    if extent <= tol:
        return pts.mean(axis=0, keepdims=True)
    area_tol = tol * extent

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    def chain(seq: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2 and cross(out[-2], out[-1], p) <= area_tol:
                out.pop()
            out.append(p)
        return out

    hull = chain(pts)[:-1] + chain(pts[::-1])[:-1]
    if len(hull) < 3:
        direction = pts[-1] - pts[0]
        proj = pts @ direction
        return np.stack([pts[int(np.argmin(proj))], pts[int(np.argmax(proj))]])
    return np.array(hull)


def _reference_plane_basis(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    _, _, vt = np.linalg.svd(np.stack([n_a, n_b]))
    basis = vt[2:].copy()
    if float((J4 @ basis[0]) @ basis[1]) < 0:
        basis[1] = -basis[1]
    return basis


def _reference_nodes(
    normals: np.ndarray,
    vertices: np.ndarray,
    incidence: np.ndarray,
    tol: float,
    two_faces: set[tuple[int, int]],
) -> list[dict]:
    omega_matrix = (normals @ J4.T) @ normals.T
    shared = incidence.astype(np.int32) @ incidence.T.astype(np.int32)
    nodes = []
    for a, b in zip(*np.nonzero((omega_matrix > 1e-9) & (shared > 0)), strict=True):
        a, b = int(a), int(b)
        common = vertices[incidence[a] & incidence[b]]
        basis = _reference_plane_basis(normals[a], normals[b])
        origin = common.mean(axis=0)
        polygon = _reference_convex_hull((common - origin) @ basis.T, tol)
        face_dim = 2 if (min(a, b), max(a, b)) in two_faces else min(len(polygon) - 1, 1)
        nodes.append(
            {
                "index": len(nodes),
                "leave": a,
                "enter": b,
                "face_dim": face_dim,
                "origin": origin,
                "basis": basis,
                "polygon": polygon,
                "transition": transition_matrix(normals[a], normals[b]),
                "edges": [],
            }
        )
    return nodes


def _reference_edge(
    src: dict,
    dst: dict,
    normals: np.ndarray,
    offsets: np.ndarray,
    reeb_vectors: np.ndarray,
    tol: float,
) -> dict | None:
    b, c = src["enter"], dst["enter"]
    r_b = reeb_vectors[b]
    speed = float(normals[c] @ r_b)
    time_grad = -(src["basis"] @ normals[c]) / speed
    time0 = float(offsets[c] - normals[c] @ src["origin"]) / speed
    n_dot_r = normals @ r_b
    cons_normals = normals @ src["basis"].T + np.outer(n_dot_r, time_grad)
    cons_offsets = offsets - normals @ src["origin"] - time0 * n_dot_r
    scale = np.sqrt(np.einsum("ij,ij->i", cons_normals, cons_normals))
    constant = scale <= 1e-12
    if np.any(cons_offsets[constant] < -tol):
        return None
    keep = ~constant
    domain = clip_many(
        src["polygon"],
        cons_normals[keep] / scale[keep, None],
        cons_offsets[keep] / scale[keep],
        tol,
    )
    if len(domain) == 0:
        return None
    linear = (
        dst["basis"] @ src["basis"].T
        - np.outer(dst["basis"] @ r_b, src["basis"] @ normals[c]) / speed
    )
    end_origin = src["origin"] + r_b * (offsets[c] - normals[c] @ src["origin"]) / speed
    shift = dst["basis"] @ (end_origin - dst["origin"])
    det = linear[0, 0] * linear[1, 1] - linear[0, 1] * linear[1, 0]
    linear_inv = np.array([[linear[1, 1], -linear[0, 1]], [-linear[1, 0], linear[0, 0]]]) / det
    return {
        "source": src["index"],
        "target": dst["index"],
        "facet": b,
        "linear": linear,
        "shift": shift,
        "linear_inv": linear_inv,
        "time_grad": time_grad,
        "time0": time0,
        "domain": domain,
        "domain_halfplanes": unit_halfplanes(domain),
    }


def _reference_graph(moved: Polytope, rtol: float = 1e-9) -> tuple[list[dict], float]:
    normals, offsets = np.asarray(moved.normals), np.asarray(moved.offsets)
    vertices, incidence = np.asarray(moved.vertices), np.asarray(moved.incidence)
    tol = rtol * max(float(np.max(np.ptp(vertices, axis=0))), 1.0)
    reeb_vectors = (2.0 / offsets)[:, None] * (normals @ J4.T)
    nodes = _reference_nodes(normals, vertices, incidence, tol, set(moved.two_faces()))
    for node in nodes:
        for nxt in (n for n in nodes if n["leave"] == node["enter"]):
            edge = _reference_edge(node, nxt, normals, offsets, reeb_vectors, tol)
            if edge is not None:
                node["edges"].append(edge)
    return nodes, tol


# --------------------------------------------------------------------------------------------
# polytopes
# --------------------------------------------------------------------------------------------


def _symplectic_image(polytope: Polytope, seed: int) -> Polytope:
    return polytope.linear_image(random_symplectic_matrix(np.random.default_rng(seed), 2))


CASES = {
    "cross-polytope": cross_polytope,
    "24-cell": twenty_four_cell,
    "simplex": simplex,
    "ch-six-vertex": ch_six_vertex,
    "random-12": lambda: random_polytope(np.random.default_rng(11), 12),
    "random-20": lambda: random_polytope(np.random.default_rng(12), 20),
    "random-30": lambda: random_polytope(np.random.default_rng(13), 30),
    "24-cell-symplectic-image": lambda: _symplectic_image(twenty_four_cell(), 3),
    "random-16-symplectic-image": lambda: _symplectic_image(
        random_polytope(np.random.default_rng(14), 16), 4
    ),
}


def _close(actual: object, expected: object, rtol: float = RTOL) -> bool:
    """Same shape and ``|a - e| <= rtol * max(1, max |e|)`` entrywise."""
    a, e = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        return False
    return bool(np.all(np.abs(a - e) <= rtol * max(1.0, float(np.max(np.abs(e), initial=0.0)))))


def _thin(polygon: np.ndarray, tol: float) -> bool:
    """A point, a segment, or a polygon of width at most ~2 tol (area <= 2 tol * extent)."""
    if len(polygon) < 3:
        return True
    x, y = polygon[:, 0], polygon[:, 1]
    area2 = abs(float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)))
    return area2 <= 4 * tol * float(np.max(np.ptp(polygon, axis=0)))


def _hausdorff(first: np.ndarray, second: np.ndarray) -> float:
    """Hausdorff distance of two convex polygons (attained at a vertex of one of them)."""
    return max(
        max(distance_to(second, point) for point in first),
        max(distance_to(first, point) for point in second),
    )


@pytest.mark.parametrize("name", list(CASES))
def test_graph_equals_reference(name: str) -> None:
    polytope = CASES[name]()
    graph, shift = reeb.flow_graph(polytope)
    moved = polytope.translate(-shift)
    expected, tol = _reference_graph(moved)
    assert isinstance(graph, FlowGraph)
    assert graph.tol == tol
    assert len(graph.nodes) == len(expected)
    for node, ref in zip(graph.nodes, expected, strict=True):
        assert (node.index, node.leave, node.enter, node.face_dim) == (
            ref["index"],
            ref["leave"],
            ref["enter"],
            ref["face_dim"],
        )
        for field in ("origin", "basis", "transition"):
            assert _close(getattr(node, field), ref[field]), (name, node.index, field)
        # A polygon is a set: its vertex list starts at the lexicographic minimum, which on a
        # symmetric polytope is a tie broken by the last bit.
        scale = max(1.0, float(np.max(np.abs(ref["polygon"]), initial=0.0)))
        assert _hausdorff(node.polygon, ref["polygon"]) <= RTOL * scale, (name, node.index)
        assert [(e.source, e.target, e.facet) for e in node.edges] == [
            (e["source"], e["target"], e["facet"]) for e in ref["edges"]
        ], (name, node.index)
        for edge, ref_edge in zip(node.edges, ref["edges"], strict=True):
            for field in ("linear", "shift", "time_grad", "time0"):
                assert _close(getattr(edge, field), ref_edge[field]), (name, edge.source, field)
            # The inverse inherits the rounding of ``linear`` times its condition number.
            condition = float(np.linalg.cond(ref_edge["linear"]))
            assert _close(edge.linear_inv, ref_edge["linear_inv"], RTOL * condition)
            assert isinstance(edge.time0, float)
            scale = max(1.0, float(np.max(np.abs(ref_edge["domain"]))))
            gap = _hausdorff(edge.domain, ref_edge["domain"])
            if gap > RTOL * scale:
                # Knife edge (see module docstring): a tol-thin domain kept as a sliver by one
                # build and collapsed to a segment by the other.  Same set within tol.
                assert gap <= 1.01 * tol, (name, edge.source, edge.target, gap)
                assert _thin(edge.domain, tol) and _thin(ref_edge["domain"], tol)
            else:
                assert (edge.domain_halfplanes is None) == (ref_edge["domain_halfplanes"] is None)
            if edge.domain_halfplanes is not None:
                own = unit_halfplanes(edge.domain)
                assert _close(edge.domain_halfplanes[0], own[0])
                assert _close(edge.domain_halfplanes[1], own[1])


def test_graph_sizes() -> None:
    """Exact node/edge counts (independent of the reference)."""
    for factory, nodes, degenerate, edges in (
        (twenty_four_cell, 120, 24, 600),
        (cross_polytope, 80, 48, 208),
    ):
        graph, _ = reeb.flow_graph(factory())
        assert len(graph.nodes) == nodes
        assert sum(node.face_dim < 2 for node in graph.nodes) == degenerate
        assert graph.num_edges == edges


def test_domains_are_the_reference_sets_on_generic_polytopes() -> None:
    """The batched build and the per-edge reference give the same domains *as sets*.

    Clipping keeps the points within ``tol`` of each half-plane, so a domain is fixed only up
    to that tolerance: two correct builds may differ by a vertex that one of them merged with
    a neighbour within ``tol``, or list the vertices from another start (Qhull's vertex order
    and BLAS rounding change with the machine).  What the mathematics fixes is the set, so
    the test compares Hausdorff distances against a few tolerances of this polytope's scale.
    """
    polytope = random_polytope(np.random.default_rng(13), 30)
    graph, shift = reeb.flow_graph(polytope)
    expected, _ = _reference_graph(polytope.translate(-shift))
    for node, ref in zip(graph.nodes, expected, strict=True):
        for edge, ref_edge in zip(node.edges, ref["edges"], strict=True):
            assert _hausdorff(edge.domain, np.asarray(ref_edge["domain"])) <= 4 * graph.tol


# --------------------------------------------------------------------------------------------
# batched helpers against their scalar versions
# --------------------------------------------------------------------------------------------


def test_transition_matrices_equal_scalar() -> None:
    rng = np.random.default_rng(0)
    n_a = rng.normal(size=(200, 4))
    n_b = rng.normal(size=(200, 4))
    n_a /= np.linalg.norm(n_a, axis=1, keepdims=True)
    n_b /= np.linalg.norm(n_b, axis=1, keepdims=True)
    batched = transition_matrices(n_a, n_b)
    for k in range(len(n_a)):
        assert np.max(np.abs(batched[k] - transition_matrix(n_a[k], n_b[k]))) <= 1e-12


def test_plane_basis_orthonormal_and_positive() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        n_a, n_b = rng.normal(size=(2, 4))
        basis = _plane_basis(n_a, n_b)
        assert np.allclose(basis @ basis.T, np.eye(2), atol=1e-12)
        assert np.allclose(basis @ np.stack([n_a, n_b]).T, 0.0, atol=1e-12)
        assert omega(basis[0], basis[1]) > 0
        assert np.array_equal(basis, _reference_plane_basis(n_a, n_b))


def _point_sets(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    sets = []
    for trial in range(count):
        k = int(rng.integers(1, 9))
        kind = trial % 4
        if kind == 0:
            pts = rng.normal(size=(k, 2))
        elif kind == 1:  # nearly collinear
            pts = np.outer(rng.normal(size=k), rng.normal(size=2)) + rng.normal(size=(k, 2)) * 1e-10
        elif kind == 2:  # on a coarse grid: exact ties and duplicates
            pts = np.round(rng.normal(size=(k, 2)), 1)
        else:  # a speck below tol
            pts = rng.normal(size=2) + rng.normal(size=(k, 2)) * 1e-10
        sets.append(np.concatenate([pts, pts[: int(rng.integers(0, k + 1))]]))
    return sets


def test_convex_hull_equals_numpy_reference() -> None:
    for pts in _point_sets(np.random.default_rng(2), 3000):
        assert np.array_equal(convex_hull(pts, 1e-9), _reference_convex_hull(pts, 1e-9))
    assert convex_hull(np.zeros((0, 2)), 1e-9).shape == (0, 2)


def test_unit_halfplanes_pooled_equals_scalar() -> None:
    from viterbo.invariants.reeb.polygon import unit_halfplanes_pooled

    rng = np.random.default_rng(5)
    polygons = [
        convex_hull(rng.normal(size=(int(rng.integers(1, 8)), 2)), 1e-9) for _ in range(300)
    ]
    starts = np.concatenate([[0], np.cumsum([len(p) for p in polygons])])
    normals, offsets, proper = unit_halfplanes_pooled(np.concatenate(polygons), starts)
    for k, poly in enumerate(polygons):
        expected = unit_halfplanes(poly)
        assert proper[k] == (expected is not None)
        if expected is not None:
            lo, hi = starts[k], starts[k + 1]
            assert np.array_equal(normals[lo:hi], expected[0])
            assert np.array_equal(offsets[lo:hi], expected[1])
    empty = unit_halfplanes_pooled(np.zeros((0, 2)), np.zeros(1, dtype=np.int64))
    assert [len(a) for a in empty] == [0, 0, 0]


@pytest.mark.parametrize("seed", range(6))
def test_compiled_domain_clip_equals_the_python_clip_exactly(seed: int) -> None:
    from viterbo.invariants.reeb.graph import _clip_domains, _stacked_polygons
    from viterbo.invariants.reeb.polygon import clip_rows

    rng = np.random.default_rng(seed)
    polygons = [convex_hull(rng.normal(size=(int(rng.integers(3, 9)), 2)), 1e-12) for _ in range(5)]
    nodes = [type("N", (), {"polygon": p})() for p in polygons]
    sources = rng.integers(0, 5, size=40)
    counts = rng.integers(0, 4, size=40)
    bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
    angles = rng.uniform(0, 2 * np.pi, size=bounds[-1])
    normals = np.c_[np.cos(angles), np.sin(angles)]
    offsets = rng.uniform(-0.5, 1.5, size=bounds[-1])
    stacked = _stacked_polygons(nodes)  # type: ignore[arg-type]
    pool, starts = _clip_domains(nodes, stacked, sources, normals, offsets, bounds, 1e-9)  # type: ignore[arg-type,misc]
    rows, values = normals.tolist(), offsets.tolist()
    for c, (src, lo, hi) in enumerate(zip(sources.tolist(), bounds, bounds[1:], strict=False)):
        expected = clip_rows(polygons[src], rows[lo:hi], values[lo:hi], 1e-9)
        assert np.array_equal(pool[starts[c] : starts[c + 1]], expected.reshape(-1, 2)), c


def _edge_constraints_numpy(
    basis_normals: np.ndarray,
    n_dot_r: np.ndarray,
    time_grad: np.ndarray,
    time0: np.ndarray,
    origin_heights: np.ndarray,
    offsets: np.ndarray,
    facets: np.ndarray,
    next_facets: np.ndarray,
    polygons: np.ndarray,
    tol: float,
) -> tuple[np.ndarray, ...]:
    """The numpy expressions ``kernel.edge_constraints`` replaced (padded source polygons)."""
    grad_x = basis_normals[:, 0] + n_dot_r * time_grad[:, 0, None]
    grad_y = basis_normals[:, 1] + n_dot_r * time_grad[:, 1, None]
    cons_offsets = offsets - origin_heights - time0[:, None] * n_dot_r
    scale = np.sqrt(grad_x * grad_x + grad_y * grad_y)
    terms = (
        np.sqrt(basis_normals[:, 0] ** 2 + basis_normals[:, 1] ** 2)
        + np.abs(n_dot_r) * np.linalg.norm(time_grad, axis=1)[:, None]
    )
    constant = scale <= 1e-12 * np.maximum(terms, 1.0)
    rows = np.arange(len(n_dot_r))
    for own in (facets, next_facets):
        constant[rows, own] = True
        cons_offsets[rows, own] = 0.0
    safe_scale = np.where(constant, 1.0, scale)
    unit_x, unit_y = grad_x / safe_scale, grad_y / safe_scale
    unit_offsets = cons_offsets / safe_scale
    highest = np.full(unit_x.shape, -np.inf)
    lowest = np.full(unit_x.shape, np.inf)
    for m in range(polygons.shape[1]):
        value = polygons[:, m, 0, None] * unit_x + polygons[:, m, 1, None] * unit_y - unit_offsets
        np.maximum(highest, value, out=highest)
        np.minimum(lowest, value, out=lowest)
    radius = np.abs(polygons).max(axis=(1, 2))
    margin = 1e-12 * (radius[:, None] + np.abs(unit_offsets) + tol)
    active = ~constant & (highest > tol - margin)
    empty = np.any(constant & (cons_offsets < -tol), axis=1) | np.any(
        ~constant & (lowest > tol + margin), axis=1
    )
    return unit_x, unit_y, unit_offsets, active, empty


@pytest.mark.parametrize("seed", range(4))
def test_compiled_edge_constraints_equal_the_numpy_expressions_bit_for_bit(seed: int) -> None:
    from viterbo.invariants.reeb.kernel import edge_constraints

    rng = np.random.default_rng(seed)
    count, facet_count, nodes = 60, 9, 7
    polygons = [
        convex_hull(rng.normal(size=(int(rng.integers(3, 8)), 2)), 1e-12) for _ in range(nodes)
    ]
    sources = rng.integers(0, nodes, size=count)
    size = max(len(p) for p in polygons)
    padded = np.stack([np.vstack([p, np.repeat(p[:1], size - len(p), axis=0)]) for p in polygons])
    starts = np.concatenate([[0], np.cumsum([len(p) for p in polygons])]).astype(np.int64)
    basis_normals = rng.normal(size=(count, 2, facet_count))
    basis_normals[:, :, 3] *= 1e-14  # nearly constant constraints, judged against the terms
    n_dot_r = rng.normal(size=(count, facet_count))
    n_dot_r[:, 3] *= 1e-14
    time_grad = rng.normal(size=(count, 2)) * 10.0 ** rng.integers(-2, 5, size=(count, 1))
    time0 = rng.normal(size=count)
    heights = rng.normal(size=(count, facet_count))
    offsets = rng.uniform(0.5, 1.5, size=facet_count)
    facets = rng.integers(0, facet_count, size=count)
    next_facets = (facets + 1 + rng.integers(0, facet_count - 1, size=count)) % facet_count
    args = (basis_normals, n_dot_r, time_grad, time0, heights, offsets, facets, next_facets)
    expected = _edge_constraints_numpy(*args, padded[sources], 1e-9)
    got = edge_constraints(
        basis_normals,
        n_dot_r,
        time_grad,
        np.linalg.norm(time_grad, axis=1),
        time0,
        heights,
        offsets,
        facets,
        next_facets,
        np.concatenate(polygons),
        starts,
        sources,
        1e-9,
    )
    for name, want, have in zip(
        ("x", "y", "offsets", "active", "empty"), expected, got, strict=True
    ):
        assert np.array_equal(want, have), name
    assert 0 < np.count_nonzero(got[3]) < got[3].size  # both kinds of constraint occur
    assert 0 < np.count_nonzero(got[4]) < count  # and both kinds of domain
