"""Search one start face per symmetry class (exact: symmetries preserve orbits and actions).

A symplectic symmetry ``g`` of ``K`` (:mod:`viterbo.geometry.symmetry`) permutes the facets and
so the nodes ``(leave, enter)`` of the flow graph, and maps each closed characteristic to one
of the same action.  Split the nodes into symmetry classes ``O_1, O_2, ...`` (ordered by their
smallest node).  An orbit whose first class is ``O_i`` can be moved by a symmetry to pass
through the representative ``r_i``, and its image still avoids ``O_1 ... O_{i-1}`` (those are
unions of classes).  So it suffices to start at the representatives and never to enter a class
before the start's own.  Numbering the nodes class by class, representative first, turns this
into the search's own rule ("never enter a node below the start"): the search runs unchanged,
from fewer starts.  Without symmetry every class is one node and nothing changes.

Only the minimal action needs this argument.  The spectrum lists orbits, not only actions,
and would list one orbit per symmetry class, so it searches from every node.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from viterbo.geometry.symmetry import Symmetry
from viterbo.invariants.reeb.graph import EdgeArrays, FlowGraph, row_bounds, row_ranges


def node_classes(graph: FlowGraph, group: Sequence[Symmetry]) -> list[list[int]] | None:
    """The nodes' classes under ``group`` (each sorted, ordered by smallest node), or ``None``.

    ``group`` must be the whole group (closed under composition): then a node's class is the
    set of its images.  ``None`` when a symmetry does not map the graph onto itself node for
    node (a face type or an out-degree differs: the graph was built at a tolerance that broke
    the symmetry), so that the caller searches from every node.
    """
    nodes = graph.nodes
    facet_count = len(graph.normals)
    table = np.full((facet_count, facet_count), -1, dtype=np.int64)
    leave = np.array([node.leave for node in nodes], dtype=np.int64)
    enter = np.array([node.enter for node in nodes], dtype=np.int64)
    table[leave, enter] = np.arange(len(nodes))
    face_dim = np.array([node.face_dim for node in nodes])
    degree = np.array([len(node.edges) for node in nodes])
    facets = np.stack([np.asarray(g.facets, dtype=np.int64) for g in group])  # (G, F)
    images = table[facets[:, leave], facets[:, enter]]  # (G, N)
    if np.any(images < 0):
        return None
    if np.any(face_dim[images] != face_dim) or np.any(degree[images] != degree):
        return None
    labels = images.min(axis=0)  # the smallest node of each node's class
    classes: dict[int, list[int]] = {}
    for k, label in enumerate(labels.tolist()):
        classes.setdefault(label, []).append(k)
    return [classes[label] for label in sorted(classes)]


def reduced(graph: FlowGraph, group: Sequence[Symmetry]) -> tuple[FlowGraph, list[int]]:
    """The graph renumbered class by class and the start nodes (one per class).

    ``graph`` is renumbered in place (see :func:`renumber`): pass a graph nobody else holds,
    such as a fresh :func:`~viterbo.invariants.reeb.capacity.flow_graph`.  Returns ``graph``
    unchanged and every node when there is no symmetry to use.
    """
    classes = node_classes(graph, group) if len(group) > 1 else None
    if classes is None or len(classes) == len(graph.nodes):
        return graph, list(range(len(graph.nodes)))
    order = [k for members in classes for k in members]
    starts = np.cumsum([0] + [len(members) for members in classes[:-1]]).tolist()
    return renumber(graph, order), starts


def renumber(graph: FlowGraph, order: Sequence[int]) -> FlowGraph:
    """Make node ``order[i]`` node ``i`` (edges and indices follow), in place; returns ``graph``.

    In place because copying every node and edge took as long as the 24-cell's search.
    """
    new_index = [0] * len(order)
    for new, old in enumerate(order):
        new_index[old] = new
    nodes = [graph.nodes[old] for old in order]
    for new, node in enumerate(nodes):
        node.index = new
        for edge in node.edges:
            edge.source, edge.target = new, new_index[edge.target]
    graph.nodes = nodes
    if graph.edge_arrays is not None:
        graph.edge_arrays = _renumbered_arrays(graph.edge_arrays, order, new_index)
    return graph


def _renumbered_arrays(
    arrays: EdgeArrays, order: Sequence[int], new_index: list[int]
) -> EdgeArrays:
    """The edge arrays in the renumbered graph's edge order (node ``order[i]``'s edges first)."""
    order_ = np.asarray(order, dtype=np.int64)
    first, counts = arrays.edge_start[order_], np.diff(arrays.edge_start)[order_]
    edges = row_ranges(first, counts)  # old edge index of each new edge
    domains = row_ranges(arrays.domain_start[edges], np.diff(arrays.domain_start)[edges])
    planes = row_ranges(arrays.halfplane_start[edges], np.diff(arrays.halfplane_start)[edges])
    return EdgeArrays(
        edge_start=row_bounds(counts),
        target=np.asarray(new_index, dtype=np.int64)[arrays.target[edges]],
        facet=arrays.facet[edges],
        linear=arrays.linear[edges],
        shift=arrays.shift[edges],
        linear_inv=arrays.linear_inv[edges],
        time_grad=arrays.time_grad[edges],
        time0=arrays.time0[edges],
        domains=arrays.domains[domains],
        domain_start=row_bounds(np.diff(arrays.domain_start)[edges]),
        halfplane_normals=arrays.halfplane_normals[planes],
        halfplane_offsets=arrays.halfplane_offsets[planes],
        halfplane_start=row_bounds(np.diff(arrays.halfplane_start)[edges]),
    )
