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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from viterbo.invariants.reeb_polygon import EMPTY, clip_many, convex_hull, unit_halfplanes
from viterbo.invariants.reeb_rotation import transition_matrix

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
class FlowGraph:
    """All nodes and edges, plus the translated polytope data they were built from."""

    normals: np.ndarray
    offsets: np.ndarray
    reeb: np.ndarray  # (F, 4) R_i = (2 / h_i) J n_i
    nodes: list[Node]
    tol: float
    j_vertices: np.ndarray  # (V, 4) rows J v for the vertices v (return-time bound)

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
    counter-clockwise polygons stay counter-clockwise.
    """
    _, _, vt = np.linalg.svd(np.stack([n_a, n_b]))
    basis = vt[2:].copy()
    if float((J4 @ basis[0]) @ basis[1]) < 0:
        basis[1] = -basis[1]
    return basis


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
    nodes: list[Node] = []
    for a, b in zip(*np.nonzero((omega > omega_tol) & (shared > 0)), strict=True):
        a, b = int(a), int(b)
        common = vertices[incidence[a] & incidence[b]]
        basis = _plane_basis(normals[a], normals[b])
        origin = common.mean(axis=0)
        polygon = convex_hull((common - origin) @ basis.T, tol)
        face_dim = 2 if (min(a, b), max(a, b)) in two_faces else min(len(polygon) - 1, 1)
        nodes.append(
            Node(
                index=len(nodes),
                leave=a,
                enter=b,
                face_dim=face_dim,
                origin=origin,
                basis=basis,
                polygon=polygon,
                transition=transition_matrix(normals[a], normals[b]),
            )
        )
    return nodes


def _edge(graph_nodes: list[Node], src: Node, dst: Node, normals: np.ndarray, offsets: np.ndarray,
          reeb: np.ndarray, tol: float) -> Edge | None:
    """The edge ``src -> dst`` (flow on facet ``src.enter``), or ``None`` if its domain is empty."""
    b, c = src.enter, dst.enter
    r_b = reeb[b]
    speed = float(normals[c] @ r_b)  # > 0 because omega(n_b, n_c) > 0
    # t(y) = (h_c - <n_c, o + U^T y>) / speed
    time_grad = -(src.basis @ normals[c]) / speed
    time0 = float(offsets[c] - normals[c] @ src.origin) / speed
    # End point x'(y) = o + U^T y + t(y) R_b; every facet inequality at x' is affine in y.
    n_dot_r = normals @ r_b
    cons_normals = normals @ src.basis.T + np.outer(n_dot_r, time_grad)
    cons_offsets = offsets - normals @ src.origin - time0 * n_dot_r
    # Facets b and c (and any facet parallel to the flow's image) give constant constraints:
    # the end point lies on them by construction.  Dividing by their ~0 gradient would be noise.
    scale = np.sqrt(np.einsum("ij,ij->i", cons_normals, cons_normals))
    constant = scale <= 1e-12
    if np.any(cons_offsets[constant] < -tol):
        return None
    keep = ~constant
    domain = clip_many(
        src.polygon, cons_normals[keep] / scale[keep, None], cons_offsets[keep] / scale[keep], tol
    )
    if len(domain) == 0:
        return None
    # Affine map between the two planes' coordinates: x' = x + t(x) R_b.
    linear = dst.basis @ src.basis.T - np.outer(dst.basis @ r_b, src.basis @ normals[c]) / speed
    end_origin = src.origin + r_b * (offsets[c] - normals[c] @ src.origin) / speed
    shift = dst.basis @ (end_origin - dst.origin)
    det = linear[0, 0] * linear[1, 1] - linear[0, 1] * linear[1, 0]
    linear_inv = np.array([[linear[1, 1], -linear[0, 1]], [-linear[1, 0], linear[0, 0]]]) / det
    return Edge(
        source=src.index,
        target=dst.index,
        facet=b,
        linear=linear,
        shift=shift,
        linear_inv=linear_inv,
        time_grad=time_grad,
        time0=time0,
        domain=domain,
        domain_halfplanes=unit_halfplanes(domain),
    )


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
    by_leave: dict[int, list[Node]] = {}
    for node in nodes:
        by_leave.setdefault(node.leave, []).append(node)
    for node in nodes:
        for nxt in by_leave.get(node.enter, []):
            edge = _edge(nodes, node, nxt, normals, offsets, reeb, tol)
            if edge is not None:
                node.edges.append(edge)
    return FlowGraph(
        normals=normals, offsets=offsets, reeb=reeb, nodes=nodes, tol=tol,
        j_vertices=vertices @ J4.T,
    )


__all__ = ["EMPTY", "Edge", "FlowGraph", "Node", "build_graph", "build_nodes"]
