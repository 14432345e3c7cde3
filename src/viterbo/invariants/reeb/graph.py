"""The combinatorial Reeb flow graph of a 4D polytope (Chaidez–Hutchings; MATH.md §3.3).

Nodes are *transition faces*: ordered facet pairs ``(a, b)`` with ``omega(n_a, n_b) > 0`` whose
facets share at least one vertex.  The flow on facet ``a`` leaves ``a`` and enters ``b``
through the closed face ``F_a ∩ F_b``.  For a 2-face this is CH's node; when ``F_a ∩ F_b`` is
only an edge or a vertex the node is a degenerate one (its domain is a segment or a point).
Such nodes carry CH's "Type 2" orbits through lower-dimensional faces: a closed
characteristic (in the Haim-Kislev normal form: one straight segment per facet, consecutive
facets sharing at least a vertex, MATH.md §3.1) passes from facet to facet at points of these
closed faces, so it is a cycle of this graph with a fixed point in the *closed* domains.

Each node has 2D coordinates on the plane ``{<n_a, x> = h_a, <n_b, x> = h_b}``: an origin
``o`` and an orthonormal basis ``U`` (``x = o + U^T y``).  An edge ``(a, b) -> (b, c)`` is the
flow on facet ``b`` for the affine time ``t(x) = (h_c - <n_c, x>) / <n_c, R_b>``; its domain is
the set of points of the closed face ``F_a ∩ F_b`` whose flow line reaches ``F_c``'s
hyperplane while still inside the polytope (by convexity only the end point needs checking).

The build is batched: node bases, transition matrices and every candidate edge's maps, times
and constraint rows are computed for all nodes / edges at once; each domain is then clipped by
:func:`~viterbo.invariants.reeb.polygon.clip_rows` with only the constraints that can cut it.
Domains that no constraint cuts or that one constraint empties are decided from the source
polygon alone (with a rounding margin, see :func:`_edge_batch`), so the graph is the per-edge
one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from viterbo.invariants.reeb.polygon import EMPTY, clip_rows, unit_halfplanes_pooled
from viterbo.invariants.reeb.rotation import QUAT_J, QUAT_K

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

J4 = np.array([[0.0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 1, 0, 0]])


@dataclass
class Node:
    """A transition face ``F_a ∩ F_b`` crossed from facet ``a`` into facet ``b``."""

    index: int
    leave: int  # facet a
    enter: int  # facet b
    face_dim: int  # 2 for a 2-face, 1 for an edge, 0 for a vertex
    origin: np.ndarray  # (4,)
    basis: np.ndarray  # (2, 4) orthonormal
    polygon: np.ndarray  # the closed face in 2D coordinates
    transition: np.ndarray  # (2, 2) transition matrix in the quaternion trivialisation
    omega: float  # omega(n_a, n_b) > 0: how far from Lagrangian the face is
    edges: list[Edge] = field(default_factory=list)


@dataclass
class Edge:
    """Flow on facet ``source.enter`` from node ``source`` to node ``target``."""

    source: int
    target: int
    facet: int
    linear: np.ndarray  # (2, 2): y_target = linear @ y_source + shift
    shift: np.ndarray  # (2,)
    linear_inv: np.ndarray  # (2, 2)
    time_grad: np.ndarray  # (2,): t(y) = time_grad . y + time0 (source coordinates)
    time0: float
    domain: np.ndarray  # closed polygon in source coordinates
    domain_halfplanes: tuple[np.ndarray, np.ndarray] | None = None  # unit H-rep if proper


@dataclass
class EdgeArrays:
    """Every edge's data as flat arrays, node by node in the graph's edge order.

    What the compiled search packs (``kernel.PackedGraph``), kept from the batched build so
    that it need not be gathered again from the ``Edge`` objects (as long as the packing of the
    24-cell's search).  Edge ``k`` is ``[e for node in nodes for e in node.edges][k]``.
    """

    edge_start: np.ndarray  # (N + 1,) int64: node n's edges are edge_start[n]:edge_start[n+1]
    target: np.ndarray  # (E,) int64
    facet: np.ndarray  # (E,) int64
    linear: np.ndarray  # (E, 4) row-major 2x2
    shift: np.ndarray  # (E, 2)
    linear_inv: np.ndarray  # (E, 4)
    time_grad: np.ndarray  # (E, 2)
    time0: np.ndarray  # (E,)
    domains: np.ndarray  # (D, 2) the domains stacked
    domain_start: np.ndarray  # (E + 1,) int64
    halfplane_normals: np.ndarray  # (H, 2) unit normals of the proper domains, stacked
    halfplane_offsets: np.ndarray  # (H,)
    halfplane_start: np.ndarray  # (E + 1,) int64 (an empty range: a degenerate domain)


@dataclass
class FlowGraph:
    """All nodes and edges, plus the translated polytope data they were built from."""

    normals: np.ndarray
    offsets: np.ndarray
    reeb: np.ndarray  # (F, 4) R_i = (2 / h_i) J n_i
    nodes: list[Node]
    tol: float
    j_vertices: np.ndarray  # (V, 4) rows J v for the vertices v (return-time bound)
    edge_arrays: EdgeArrays | None = None  # the edges as arrays, when built in one batch

    @property
    def num_edges(self) -> int:
        """Number of edges with a non-empty domain."""
        return sum(len(node.edges) for node in self.nodes)

    def lift(self, node: int, y: np.ndarray) -> np.ndarray:
        """The 4D point with 2D coordinates ``y`` on node ``node``'s plane."""
        n = self.nodes[node]
        return n.origin + y @ n.basis


def _plane_basis(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Orthonormal basis ``(u1, u2)`` of ``{n_a, n_b}^perp`` with ``omega(u1, u2) > 0``.

    The plane is symplectic when ``omega(n_a, n_b) != 0``; the flow maps between such planes
    preserve omega, so with this orientation every map is orientation preserving and
    counter-clockwise polygons stay counter-clockwise.  (Scalar form of
    :func:`_plane_bases`.)
    """
    return _plane_bases(n_a[None], n_b[None])[0]


def _plane_bases(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """:func:`_plane_basis` for ``(N, 4)`` stacks of normals: ``(N, 2, 4)`` bases."""
    return _orient(_complement_bases(n_a, n_b))


def _complement_bases(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Orthonormal ``(N, 2, 4)`` bases of ``{n_a, n_b}^perp`` (SVD, as in ``reeb.rotation``).

    One batched SVD; LAPACK runs the same routine per matrix, so each basis equals the one
    ``numpy.linalg.svd`` gives for that pair alone.
    """
    _, _, vt = np.linalg.svd(np.stack([n_a, n_b], axis=1))
    return vt[:, 2:]


def _orient(bases: np.ndarray) -> np.ndarray:
    """Flip the second vector of each basis where ``omega(u1, u2) < 0``."""
    oriented = bases.copy()
    orientation = np.einsum("ni,ni->n", bases[:, 0] @ J4.T, bases[:, 1])
    oriented[orientation < 0, 1] *= -1.0
    return oriented


def transition_matrices(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Batched :func:`~viterbo.invariants.reeb.rotation.transition_matrix`.

    Parameters
    ----------
    n_a, n_b : numpy.ndarray
        ``(N, 4)`` unit normals of the facets left and entered.

    Returns
    -------
    numpy.ndarray
        ``(N, 2, 2)``: entry ``k`` equals ``transition_matrix(n_a[k], n_b[k])`` (to rounding).
    """
    return _transitions(n_a, n_b, _complement_bases(n_a, n_b))


def _transitions(n_a: np.ndarray, n_b: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Transition matrices given the (unoriented) SVD bases of the face planes.

    Same steps as ``reeb.rotation.transition_path`` at ``s = 1``: the trivialisation at
    ``n_a`` restricted to the face plane, inverted, followed by the one at ``n_b``.
    """
    bases_t = np.swapaxes(bases, 1, 2)  # (N, 4, 2)
    start = np.stack([n_a @ QUAT_J.T, n_a @ QUAT_K.T], axis=1) @ bases_t  # (N, 2, 2)
    end_normals = n_b / np.linalg.norm(n_b, axis=1, keepdims=True)
    end = np.stack([end_normals @ QUAT_J.T, end_normals @ QUAT_K.T], axis=1) @ bases_t
    return end @ np.linalg.inv(start)


def _face_frames(
    vertices: np.ndarray, mask: np.ndarray, bases: np.ndarray, tol: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each face's origin (the mean of its vertices ``vertices[mask[k]]``) and its vertices in
    its plane's coordinates, as a convex polygon (ccw).

    Faces are grouped by vertex count, so that the means and the projections are one numpy
    call per group: a stacked matmul runs the per-face product's own inner loop, so each face
    gets the bits of ``(vertices[m] - origin) @ basis.T`` (a batched einsum rounds differently,
    and on the 24-cell's knife-edge domains that moved edges by more than the tolerance).  The
    polygons are hulled in one compiled call (``kernel.hull_batch``, the twin of
    ``polygon.convex_hull``): one Python hull per node was the larger part of building them.
    """
    # Function-level import: kernel imports this module (FlowGraph, Edge).
    from viterbo.invariants.reeb.kernel import hull_batch

    origins = np.zeros((len(mask), vertices.shape[1]))
    counts = mask.sum(axis=1).astype(np.int64)
    starts = row_bounds(counts)
    projected = np.zeros((int(starts[-1]), 2))
    for count in np.unique(counts).tolist():
        rows = np.flatnonzero(counts == count)
        columns = np.nonzero(mask[rows])[1].reshape(len(rows), count)
        corners = vertices[columns]  # (k, count, 4)
        origins[rows] = corners.mean(axis=1)
        shifted = corners - origins[rows][:, None, :]
        placed = row_ranges(starts[rows], counts[rows])
        projected[placed] = (shifted @ np.swapaxes(bases[rows], 1, 2)).reshape(-1, 2)
    hulls, bounds = hull_batch(projected, starts, float(tol))
    return origins, [hulls[lo:hi] for lo, hi in itertools.pairwise(bounds.tolist())]


def build_nodes(
    normals: np.ndarray,
    offsets: np.ndarray,
    vertices: np.ndarray,
    incidence: np.ndarray,
    *,
    omega_tol: float,
    tol: float,
    two_faces: set[tuple[int, int]],
) -> list[Node]:
    """Nodes of the flow graph (see module docstring).

    Parameters
    ----------
    normals, offsets, vertices, incidence : numpy.ndarray
        The polytope with the origin in its interior.
    omega_tol : float
        Pairs with ``omega(n_a, n_b) <= omega_tol`` carry no transition.
    tol : float
        Absolute length tolerance for the face polygons.
    two_faces : set of (int, int)
        Unordered facet pairs (``i < j``) that meet in a 2-face.
    """
    omega = (normals @ J4.T) @ normals.T  # omega[a, b] = <J n_a, n_b>
    shared = incidence.astype(np.int32) @ incidence.T.astype(np.int32)
    leave, enter = np.nonzero((omega > omega_tol) & (shared > 0))
    if len(leave) == 0:
        return []
    n_a, n_b = normals[leave], normals[enter]
    unoriented = _complement_bases(n_a, n_b)
    bases = _orient(unoriented)
    transitions = _transitions(n_a, n_b, unoriented)
    origins, polygons = _face_frames(vertices, incidence[leave] & incidence[enter], bases, tol)
    nodes: list[Node] = []
    omegas = omega[leave, enter].tolist()
    for k, (a, b) in enumerate(zip(leave.tolist(), enter.tolist(), strict=True)):
        basis, origin, polygon = bases[k], origins[k], polygons[k]
        face_dim = 2 if (min(a, b), max(a, b)) in two_faces else min(len(polygon) - 1, 1)
        nodes.append(
            Node(
                index=k,
                leave=a,
                enter=b,
                face_dim=face_dim,
                origin=origin,
                basis=basis,
                polygon=polygon,
                transition=transitions[k],
                omega=omegas[k],
            )
        )
    return nodes


def _candidate_edges(nodes: list[Node]) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(src, dst)`` with ``dst.leave == src.enter``, in the graph's edge order.

    The order is by source node, then by target node index: the order in which
    :func:`build_graph` appends each node's edges.
    """
    by_leave: dict[int, list[int]] = {}
    for node in nodes:
        by_leave.setdefault(node.leave, []).append(node.index)
    sources: list[int] = []
    targets: list[int] = []
    for node in nodes:
        following = by_leave.get(node.enter, [])
        sources.extend([node.index] * len(following))
        targets.extend(following)
    return np.array(sources, dtype=np.intp), np.array(targets, dtype=np.intp)


def _stacked_polygons(nodes: list[Node]) -> tuple[np.ndarray, np.ndarray]:
    """The node polygons stacked (node ``n``: rows ``starts[n]:starts[n+1]``) and ``starts``."""
    polygons = [node.polygon for node in nodes]
    return stack_rows(polygons), row_bounds([len(p) for p in polygons])


@dataclass
class _EdgeBatch:
    """Data of all candidate edges at once (leading axis: candidate, in graph edge order)."""

    sources: np.ndarray  # (E,) source node
    targets: np.ndarray  # (E,) target node
    facets: np.ndarray  # (E,) facet b flowed on (= source.enter)
    next_facets: np.ndarray  # (E,) facet c reached (= target.enter)
    speed: np.ndarray  # (E,) <n_c, R_b> > 0
    time_grad: np.ndarray  # (E, 2)
    time0: np.ndarray  # (E,)
    clip_x: np.ndarray  # (E, F) unit normals of the end-point constraints, x part
    clip_y: np.ndarray  # (E, F) and y part
    clip_offsets: np.ndarray  # (E, F)
    active: np.ndarray  # (E, F) bool: constraints clip_many must see (none: uncut)
    empty: np.ndarray  # (E,) bool: domain empty, decided on the source polygon


def _edge_batch(
    nodes: list[Node],
    polygons: tuple[np.ndarray, np.ndarray],
    bases: np.ndarray,
    origins: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    reeb: np.ndarray,
    tol: float,
) -> _EdgeBatch:
    """Times and domain constraints of every candidate edge, batched over edges.

    The flow on facet ``b`` from node ``src`` reaches facet ``c``'s hyperplane at time
    ``t(y) = (h_c - <n_c, o + U^T y>) / <n_c, R_b>``, at the end point
    ``x'(y) = o + U^T y + t(y) R_b``.  Every facet inequality at ``x'`` is affine in ``y``:
    the rows ``(clip_x, clip_y) . y <= clip_offsets``.
    """
    # Function-level import: kernel imports this module (FlowGraph, Edge).
    from viterbo.invariants.reeb.kernel import edge_constraints

    sources, targets = _candidate_edges(nodes)
    enter = np.array([node.enter for node in nodes], dtype=np.intp)
    facets, next_facets = enter[sources], enter[targets]
    r_b, n_c = reeb[facets], normals[next_facets]
    src_bases, src_origins = bases[sources], origins[sources]
    speed = np.einsum("ej,ej->e", n_c, r_b)  # > 0 because omega(n_b, n_c) > 0
    time_grad = -np.einsum("eij,ej->ei", src_bases, n_c) / speed[:, None]
    time0 = (offsets[next_facets] - np.einsum("ej,ej->e", n_c, src_origins)) / speed
    n_dot_r = r_b @ normals.T  # (E, F)
    # Constraint gradients U n_f + (n_f . R_b) time_grad, x and y parts: one gemm for all U n_f.
    basis_normals = (src_bases.reshape(-1, 4) @ normals.T).reshape(len(sources), 2, len(normals))
    # The rest is elementwise, fused in one compiled pass (kernel.edge_constraints, same bits):
    # each end-point constraint (U n_f + (n_f . R_b) time_grad) . y <= h_f - <n_f, o> -
    # time0 (n_f . R_b), normalised to a unit half-plane.  Facets b and c (and any facet
    # parallel to the flow's image) give constant constraints: the end point lies on them by
    # construction, and dividing by their ~0 gradient would be noise.  The gradient is a
    # difference of two terms of size |time_grad| ~ 1 / speed, which is huge where the flow is
    # nearly tangent to facet c (omega(n_b, n_c) ~ 1e-5 near a Lagrangian product), so "zero"
    # is judged relative to those terms (1e-12), and b and c, whose constraints vanish
    # identically, are constant by definition (their rounding residue, normalised to a unit
    # half-plane, used to cut real orbits out of the domain).
    #
    # clip_many cuts with a constraint when its largest value on the *current* (partly
    # clipped) polygon exceeds tol.  Clipped points are convex combinations of the source
    # vertices up to rounding, so a constraint whose largest source value is below
    # tol - margin is skipped by clip_many at every step, and one whose smallest source value
    # exceeds tol + margin empties the domain whenever clip_many reaches it.  The margin
    # (1e-12 relative to the magnitudes involved, thousands of rounding errors) makes both
    # decisions safe; constraints in between are handed to clip_many, which decides them
    # itself, so the domains are those of clipping with all constraints in order.
    pool, starts = polygons
    unit_x, unit_y, unit_offsets, active, empty = edge_constraints(
        np.ascontiguousarray(basis_normals),
        np.ascontiguousarray(n_dot_r),
        np.ascontiguousarray(time_grad),
        np.linalg.norm(time_grad, axis=1),
        np.ascontiguousarray(time0),
        np.ascontiguousarray(src_origins @ normals.T),
        np.ascontiguousarray(offsets, dtype=float),
        facets.astype(np.int64),
        next_facets.astype(np.int64),
        pool,
        starts,
        sources.astype(np.int64),
        float(tol),
    )
    return _EdgeBatch(
        sources=sources,
        targets=targets,
        facets=facets,
        next_facets=next_facets,
        speed=speed,
        time_grad=time_grad,
        time0=time0,
        clip_x=unit_x,
        clip_y=unit_y,
        clip_offsets=unit_offsets,
        active=active,
        empty=empty,
    )


def _edge_maps(
    batch: _EdgeBatch,
    bases: np.ndarray,
    origins: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    reeb: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(linear, shift, linear_inv)`` of every candidate edge, from ``x' = x + t(x) R_b``.

    In 2D coordinates ``y_target = linear @ y_source + shift``.
    """
    r_b, n_c, speed = reeb[batch.facets], normals[batch.next_facets], batch.speed
    src_bases, dst_bases = bases[batch.sources], bases[batch.targets]
    src_origins, dst_origins = origins[batch.sources], origins[batch.targets]
    along = np.einsum("eij,ej->ei", dst_bases, r_b)  # dst.basis @ r_b
    across = np.einsum("eij,ej->ei", src_bases, n_c)  # src.basis @ n_c
    linear = dst_bases @ np.swapaxes(src_bases, 1, 2) - (
        along[:, :, None] * across[:, None, :] / speed[:, None, None]
    )
    heights = offsets[batch.next_facets] - np.einsum("ej,ej->e", n_c, src_origins)
    end_origins = src_origins + r_b * heights[:, None] / speed[:, None]
    shift = np.einsum("eij,ej->ei", dst_bases, end_origins - dst_origins)
    det = linear[:, 0, 0] * linear[:, 1, 1] - linear[:, 0, 1] * linear[:, 1, 0]
    adjugate = np.empty_like(linear)
    adjugate[:, 0, 0], adjugate[:, 0, 1] = linear[:, 1, 1], -linear[:, 0, 1]
    adjugate[:, 1, 0], adjugate[:, 1, 1] = -linear[:, 1, 0], linear[:, 0, 0]
    return linear, shift, adjugate / det[:, None, None]


def build_edges(
    nodes: list[Node],
    normals: np.ndarray,
    offsets: np.ndarray,
    reeb: np.ndarray,
    tol: float,
) -> EdgeArrays | None:
    """Append every non-empty edge to its source node's ``edges`` (see module docstring).

    Everything runs batched over all candidate edges; each domain is clipped only by the
    constraints that can cut it (see :func:`_edge_batch`).  Returns the same edges as
    :class:`EdgeArrays` (``None`` without nodes).
    """
    if not nodes:
        return None
    bases = np.stack([node.basis for node in nodes])
    origins = np.stack([node.origin for node in nodes])
    polygons = _stacked_polygons(nodes)
    batch = _edge_batch(nodes, polygons, bases, origins, normals, offsets, reeb, tol)
    linear, shift, linear_inv = _edge_maps(batch, bases, origins, normals, offsets, reeb)
    # Clip every candidate domain by its active constraints (rows of batch.active, in order).
    candidates = np.flatnonzero(~batch.empty)
    edge_rows, facet_columns = np.nonzero(batch.active[candidates])
    bounds = np.searchsorted(edge_rows, np.arange(len(candidates) + 1)).tolist()
    rows = candidates[edge_rows]
    clip_normals = np.stack(
        [batch.clip_x[rows, facet_columns], batch.clip_y[rows, facet_columns]], axis=1
    )
    clip_offsets = batch.clip_offsets[rows, facet_columns]
    clipped = _clip_domains(
        nodes, polygons, batch.sources[candidates], clip_normals, clip_offsets, bounds, tol
    )
    if isinstance(clipped, tuple):  # the compiled clip: stacked domains and their row bounds
        pool, rows_of = clipped
        sizes = np.diff(rows_of)
        nonempty = np.flatnonzero(sizes > 0)
        kept = candidates[nonempty]
        pooled = _pooled_domains(pool, rows_of[:-1][nonempty], sizes[nonempty])
    else:
        nonempty_list = [k for k, domain in enumerate(clipped) if len(domain)]
        kept = candidates[np.asarray(nonempty_list, dtype=np.intp)]
        pooled = _pooled_domains_of([clipped[k] for k in nonempty_list])
    domains, halfplanes = pooled.domains, pooled.halfplanes
    # Row views made by list() in C: indexing the arrays edge by edge was half of this loop.
    columns = zip(
        batch.sources[kept].tolist(),
        batch.targets[kept].tolist(),
        batch.facets[kept].tolist(),
        list(linear[kept]),
        list(shift[kept]),
        list(linear_inv[kept]),
        list(batch.time_grad[kept]),
        batch.time0[kept].tolist(),
        domains,
        halfplanes,
        strict=True,
    )
    for column in columns:
        nodes[column[0]].edges.append(Edge(*column))
    return _edge_arrays(len(nodes), batch, kept, linear, shift, linear_inv, pooled)


@dataclass
class _PooledDomains:
    """The kept edges' domains stacked, their unit half-planes, and per-edge views of both."""

    points: np.ndarray  # (D, 2)
    starts: np.ndarray  # (E + 1,)
    plane_normals: np.ndarray  # (H, 2): the proper domains' rows only
    plane_offsets: np.ndarray  # (H,)
    plane_starts: np.ndarray  # (E + 1,)
    domains: list[np.ndarray]
    halfplanes: list[tuple[np.ndarray, np.ndarray] | None]


def _pooled_domains(pool: np.ndarray, lows: np.ndarray, sizes: np.ndarray) -> _PooledDomains:
    """The domains ``pool[lows[k] : lows[k] + sizes[k]]``, gathered and given half-planes."""
    return _with_halfplanes(np.ascontiguousarray(pool[row_ranges(lows, sizes)]), row_bounds(sizes))


def _pooled_domains_of(domains: list[np.ndarray]) -> _PooledDomains:
    """:func:`_pooled_domains` of a list of domains (the Python clip's)."""
    return _with_halfplanes(stack_rows(domains), row_bounds([len(d) for d in domains]))


def _with_halfplanes(points: np.ndarray, starts: np.ndarray) -> _PooledDomains:
    normals, offsets, proper = unit_halfplanes_pooled(points, starts)
    bounds = starts.tolist()
    domains = [points[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    halfplanes: list[tuple[np.ndarray, np.ndarray] | None] = [
        (normals[lo:hi], offsets[lo:hi]) if ok else None
        for lo, hi, ok in zip(bounds, bounds[1:], proper.tolist(), strict=False)
    ]
    sizes = np.diff(starts)
    rows = np.repeat(proper, sizes)
    return _PooledDomains(
        points=points,
        starts=starts,
        plane_normals=np.ascontiguousarray(normals[rows]),
        plane_offsets=np.ascontiguousarray(offsets[rows]),
        plane_starts=row_bounds(np.where(proper, sizes, 0)),
        domains=domains,
        halfplanes=halfplanes,
    )


def _edge_arrays(
    node_count: int,
    batch: _EdgeBatch,
    kept: np.ndarray,
    linear: np.ndarray,
    shift: np.ndarray,
    linear_inv: np.ndarray,
    pooled: _PooledDomains,
) -> EdgeArrays:
    """The kept edges (in edge order: by source node, as ``build_edges`` appends them)."""
    per_node = np.bincount(batch.sources[kept], minlength=node_count)
    return EdgeArrays(
        edge_start=row_bounds(per_node),
        target=batch.targets[kept].astype(np.int64),
        facet=batch.facets[kept].astype(np.int64),
        linear=linear[kept].reshape(-1, 4),
        shift=np.ascontiguousarray(shift[kept]).reshape(-1, 2),
        linear_inv=linear_inv[kept].reshape(-1, 4),
        time_grad=np.ascontiguousarray(batch.time_grad[kept]).reshape(-1, 2),
        time0=np.ascontiguousarray(batch.time0[kept], dtype=float),
        domains=pooled.points,
        domain_start=pooled.starts,
        halfplane_normals=pooled.plane_normals,
        halfplane_offsets=pooled.plane_offsets,
        halfplane_start=pooled.plane_starts,
    )


def stack_rows(blocks: list[np.ndarray]) -> np.ndarray:
    """``(sum k_i, 2)`` contiguous float array of 2D point blocks (``(0, 2)`` when empty)."""
    if not blocks:
        return np.zeros((0, 2))
    return np.ascontiguousarray(
        np.concatenate([np.asarray(b, dtype=float).reshape(-1, 2) for b in blocks])
    )


def row_bounds(sizes: list[int] | np.ndarray) -> np.ndarray:
    """Row bounds ``[0, s_0, s_0 + s_1, ...]`` of consecutive blocks of these sizes (int64)."""
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


def row_ranges(first: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """``concatenate([arange(f, f + s) for f, s in zip(first, sizes)])`` without the loop."""
    starts = row_bounds(sizes)
    return np.repeat(first - starts[:-1], sizes) + np.arange(int(starts[-1]), dtype=np.int64)


def _clip_domains(
    nodes: list[Node],
    polygons: tuple[np.ndarray, np.ndarray],
    sources: np.ndarray,
    normals: np.ndarray,
    offsets: np.ndarray,
    bounds: list[int],
    tol: float,
) -> tuple[np.ndarray, np.ndarray] | list[np.ndarray]:
    """Each candidate's source polygon clipped by its rows ``bounds[c]:bounds[c+1]``.

    The compiled clip returns the domains stacked with their row bounds (slicing only the
    non-empty ones is the caller's business); the Python fallback a list of polygons.

    Compiled (``kernel.clip_batch``, the twin of ``polygon.clip_rows``: one call instead of
    one Python clip per candidate, 2/3 of the graph build); the Python clip if the compiled
    buffers turn out too small for a pathological polygon.
    """
    # Function-level import: kernel imports this module (FlowGraph, Edge).
    from viterbo.invariants.reeb.kernel import clip_batch

    pool, starts = polygons  # the node polygons stacked (_stacked_polygons)
    try:
        out, out_starts = clip_batch(
            pool,
            starts,
            np.asarray(sources, dtype=np.int64),
            np.ascontiguousarray(normals, dtype=float),
            np.ascontiguousarray(offsets, dtype=float),
            np.asarray(bounds, dtype=np.int64),
            float(tol),
        )
    except ValueError:  # a buffer was too small (kernel._room): the Python twin has no limit
        rows, values = normals.tolist(), offsets.tolist()
        return [
            clip_rows(nodes[src].polygon, rows[lo:hi], values[lo:hi], tol)
            for src, lo, hi in zip(sources.tolist(), bounds, bounds[1:], strict=False)
        ]
    return out, out_starts


def build_graph(
    normals: np.ndarray,
    offsets: np.ndarray,
    vertices: np.ndarray,
    incidence: np.ndarray,
    two_faces: set[tuple[int, int]],
    *,
    rtol: float = 1e-9,
) -> FlowGraph:
    """Build the flow graph of a 4D polytope given with the origin in its interior.

    Parameters
    ----------
    normals, offsets : numpy.ndarray
        Unit outer normals ``(F, 4)`` and offsets ``(F,)`` (all > 0).
    vertices : numpy.ndarray
        ``(V, 4)`` vertices.
    incidence : numpy.ndarray
        ``(F, V)`` bool facet-vertex incidence.
    two_faces : set of (int, int)
        Facet pairs ``i < j`` meeting in a 2-face.
    rtol : float
        Relative tolerance (lengths scale with the diameter).

    Returns
    -------
    FlowGraph
    """
    diameter = float(np.max(np.ptp(vertices, axis=0))) if len(vertices) else 1.0
    tol = rtol * max(diameter, 1.0)
    reeb = (2.0 / offsets)[:, None] * (normals @ J4.T)
    nodes = build_nodes(
        normals, offsets, vertices, incidence, omega_tol=rtol, tol=tol, two_faces=two_faces
    )
    edge_arrays = build_edges(nodes, normals, offsets, reeb, tol)
    return FlowGraph(
        normals=normals,
        offsets=offsets,
        reeb=reeb,
        nodes=nodes,
        tol=tol,
        j_vertices=vertices @ J4.T,
        edge_arrays=edge_arrays,
    )


def polytope_graph(polytope: Polytope, *, rtol: float = 1e-9) -> FlowGraph:
    """:func:`build_graph` of a 4D polytope that already has the origin in its interior."""
    return build_graph(
        np.asarray(polytope.normals, dtype=float),
        np.asarray(polytope.offsets, dtype=float),
        np.asarray(polytope.vertices, dtype=float),
        np.asarray(polytope.incidence, dtype=bool),
        set(polytope.two_faces()),
        rtol=rtol,
    )


__all__ = [
    "EMPTY",
    "Edge",
    "EdgeArrays",
    "FlowGraph",
    "Node",
    "build_edges",
    "build_graph",
    "build_nodes",
    "polytope_graph",
    "transition_matrices",
]
