"""Closure of flow-graph cycles (``reeb.search.close_cycle``): linear solve against programs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.invariants.reeb.test_capacity import cell_24, cross_polytope
from viterbo.families.base import generate
from viterbo.geometry import Polytope
from viterbo.invariants import reeb
from viterbo.invariants.reeb import search as tube_search
from viterbo.invariants.reeb.capacity import flow_graph, minimal_orbit, search_engine
from viterbo.invariants.reeb.graph import Edge, FlowGraph
from viterbo.invariants.reeb.search import CycleProgram, Orbit, close_cycle


def _closures(polytope: Polytope, window: float) -> tuple[FlowGraph, list[Orbit], float]:
    """Every closure the spectrum's search reports below ``window`` x capacity."""
    capacity = reeb.compute(polytope)["value"]
    graph, _ = flow_graph(polytope)
    search = search_engine("compiled")(
        graph, max_rotation=6.0, through_start=True, exact_closures=False
    )
    orbits: list[Orbit] = []

    def on_orbit(orbit: Orbit) -> float:
        orbits.append(orbit)
        return window * capacity

    search.run(on_orbit)
    return graph, orbits, search.min_action


def test_a_regular_cycle_is_decided_by_its_linear_solve_as_the_programs_decide_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # atlas-small's halfspace-tangent 10: hundreds of closures whose composed fixed point
    # fails its certificate (constant loops at vertices, points outside the domain) among
    # real orbits and covers.
    polytope = generate("halfspace-tangent", {"facets": 16}, 10).polytope
    graph, orbits, min_action = _closures(polytope, 2.0)
    cycles = {tuple(e.source for e in orbit.edges): orbit.edges for orbit in orbits}
    solved = [
        (cycles[key], close_cycle(graph, cycles[key], min_action))
        for key in sorted(cycles)
        if CycleProgram.of(graph, cycles[key]).unique_solution() is not None
    ]
    outcomes = {closed is None for _, closed in solved}
    assert len(solved) >= 100 and outcomes == {True, False}
    monkeypatch.setattr(tube_search, "UNIQUE_CONDITION_MAX", 1.0)  # programs decide all
    for edges, closed in solved:
        by_programs = close_cycle(graph, edges, min_action)
        assert (closed is None) == (by_programs is None)
        if closed is not None:
            assert closed[0] == pytest.approx(by_programs[0], rel=1e-9)
            assert np.allclose(closed[1], by_programs[1], atol=1e-8)


def test_a_family_of_orbits_is_left_to_the_programs() -> None:
    """The cross-polytope's minimal orbits come in a family: its equalities are singular."""
    graph, edges = _minimal_cycle(cross_polytope())
    program = CycleProgram.of(graph, edges)
    assert program.unique_solution() is None
    assert tube_search._decide_unique(program, 0.5) is False
    closed = close_cycle(graph, edges, 0.5)  # by the programs
    assert closed is not None and closed[0] == pytest.approx(1.0, rel=1e-9)


def test_a_regular_minimal_cycle_closes_by_its_linear_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 24-cell's minimal cycle found by the search runs through lower faces and is regular."""
    graph, edges = _minimal_cycle(cell_24())
    program = CycleProgram.of(graph, edges)
    assert program.unique_solution() is not None
    closed = close_cycle(graph, edges, 1.0)
    assert closed is not None and closed[0] == pytest.approx(2.0, rel=1e-12)
    # Ill-conditioned (rows scaled by 1e-9): left to the programs, which agree.
    scaled = program.a_eq * np.r_[1.0, np.full(len(program.a_eq) - 1, 1e-9)][:, None]
    assert dataclasses.replace(program, a_eq=scaled).unique_solution() is None
    monkeypatch.setattr(tube_search, "UNIQUE_CONDITION_MAX", 1.0)
    by_programs = close_cycle(graph, edges, 1.0)
    assert by_programs is not None and by_programs[0] == pytest.approx(closed[0], rel=1e-9)


def _minimal_cycle(polytope: Polytope) -> tuple[FlowGraph, tuple[Edge, ...]]:
    graph, _ = flow_graph(polytope)
    index = {(node.leave, node.enter): node.index for node in graph.nodes}
    path = [index[tuple(face)] for face in minimal_orbit(polytope)["faces"]]
    edges = tuple(
        next(edge for edge in graph.nodes[a].edges if edge.target == b)
        for a, b in zip(path, path[1:] + path[:1], strict=True)
    )
    return graph, edges
