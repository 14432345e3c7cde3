"""The compiled tube search against the pure-Python reference (routine by routine, then whole
searches): same polygons, same heap order, same values, statistics and verified loops."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from viterbo.geometry import GeometryError, Polytope, random_symplectic_matrix
from viterbo.invariants import haim_kislev, reeb, spectrum
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.reeb import kernel as reeb_kernel
from viterbo.invariants.reeb import polygon as reeb_polygon
from viterbo.invariants.reeb import search as reeb_search
from viterbo.invariants.reeb.kernel import (
    CompiledTubeSearch,
    fixed_point,
    heap_pop,
    heap_push,
    warm_up,
)
from viterbo.invariants.reeb.search import TubeSearch, _fixed_point
from viterbo.invariants.registry import TimeBudgetExceeded

TOL = 1e-9


def random_polygon(rng: np.random.Generator) -> np.ndarray:
    """A proper ccw polygon, a segment or a point (the shapes tube domains take)."""
    kind = rng.integers(0, 6)
    if kind == 0:
        return rng.normal(size=(1, 2))
    if kind == 1:
        return rng.normal(size=(2, 2))
    angles = np.sort(rng.uniform(0, 2 * np.pi, size=rng.integers(3, 9)))
    radius = rng.uniform(0.5, 2.0)
    return reeb_polygon.convex_hull(
        radius * np.stack([np.cos(angles), np.sin(angles)], axis=1) + rng.normal(size=2) * 0.3,
        TOL,
    )


def jit_result(function, *args) -> np.ndarray:
    out = np.zeros((64, 2))
    count = function(*args, out)
    return out[:count]


def same_polygon(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=0, atol=1e-12)


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    warm_up()


def test_convex_hull_and_dedupe_match_python() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        points = rng.normal(size=(rng.integers(1, 9), 2))
        if rng.random() < 0.3:  # collinear and duplicated points
            points = np.outer(rng.normal(size=len(points)), rng.normal(size=2))
            points = np.concatenate([points, points[:2]])
        expected = reeb_polygon.convex_hull(points, TOL)
        assert same_polygon(jit_result(reeb_kernel.convex_hull, points, len(points), TOL), expected)
        sliver = np.concatenate([points, points[:1] + 1e-12])
        assert same_polygon(
            jit_result(reeb_kernel.dedupe, sliver, len(sliver), 1e-6),
            reeb_polygon._dedupe(sliver.tolist(), 1e-6),
        )


def test_clip_intersect_distance_section_match_python() -> None:
    rng = np.random.default_rng(2)
    clipped_to_nothing = changed = 0
    for _ in range(400):
        a, b = random_polygon(rng), random_polygon(rng)
        normal, offset = rng.normal(size=2), float(rng.normal())
        expected = reeb_polygon.clip(a, normal, offset, TOL)
        got = jit_result(reeb_kernel.clip, a, len(a), normal[0], normal[1], offset, TOL)
        assert same_polygon(got, expected)
        clipped_to_nothing += len(expected) == 0
        changed += len(expected) > 0 and not same_polygon(expected, a)
        expected = reeb_polygon.intersect(a, b, TOL)
        assert same_polygon(jit_result(reeb_kernel.intersect, a, len(a), b, len(b), TOL), expected)
        if len(b) >= 3:
            normals, offsets = reeb_polygon.unit_halfplanes(b)
            expected = reeb_polygon.clip_many(a, normals, offsets, TOL)
            got = jit_result(
                reeb_kernel.clip_many, a, len(a), normals, offsets, 0, len(offsets), TOL
            )
            assert same_polygon(got, expected)
        point = rng.normal(size=2)
        assert reeb_kernel.distance_to(a, len(a), point[0], point[1]) == pytest.approx(
            reeb_polygon.distance_to(a, point), abs=1e-12
        )
        expected = reeb_polygon.line_section(a, normal, offset, 1e-3)
        got = jit_result(reeb_kernel.line_section, a, len(a), normal[0], normal[1], offset, 1e-3)
        assert same_polygon(got, expected)
    assert clipped_to_nothing > 20 and changed > 50  # the cases are really exercised


def test_fixed_point_matches_python_in_all_three_rank_cases() -> None:
    square = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    grad, const = np.array([0.3, -0.2]), 1.0
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    shear = np.array([[1.0, 0.7], [0.0, 1.0]])  # A - I has rank one
    cases = [
        (rotation, np.array([0.3, -0.2])),
        (rotation, np.array([5.0, 5.0])),
        (shear, np.array([0.4, 0.0])),
        (shear, np.array([0.0, 0.4])),
        (np.eye(2), np.zeros(2)),
        (np.eye(2), np.array([0.1, 0.0])),
    ]
    found_cases = 0
    for linear, shift in cases:
        expected = _fixed_point(linear, shift, square, grad, const, TOL)
        point = np.zeros(2)
        ok = fixed_point(
            linear, shift[0], shift[1], square, 4, grad[0], grad[1], const, TOL, 1e-8, point
        )
        assert ok == (expected is not None)
        if ok:
            found_cases += 1
            assert np.allclose(point, expected, atol=1e-12)
    assert found_cases == 3


def test_displacement_gap_exact_values_and_twin() -> None:
    """Distance from 0 to {(A - I) y + c : y in P}: translations, rotations about a point
    inside, a flipped orientation, a rank-one (segment) image; compiled == Python."""
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    centre = np.array([0.5, 0.5])
    cases = [
        (np.eye(2), np.array([3.0, 4.0]), square, 5.0),  # a pure translation moves every point by 5
        (turn, centre - turn @ centre, square, 0.0),  # rotation about the centre: it is fixed
        (np.diag([-1.0, 2.0]), np.zeros(2), square + 1.0, math.sqrt(5.0)),  # images [-4,-2]x[1,2]
        (np.diag([1.0, -1.0]), np.array([1.0, 0.0]), square, 1.0),  # images on the line x = 1
    ]
    for linear, shift, polygon, expected in cases:
        assert reeb_search.displacement_gap(linear, shift, polygon) == pytest.approx(
            expected, abs=1e-15
        )
        gap = reeb_kernel.displacement_gap(linear, shift[0], shift[1], polygon, len(polygon))
        assert gap == pytest.approx(expected, abs=1e-15)
    rng = np.random.default_rng(7)
    for _ in range(300):
        polygon = random_polygon(rng)
        linear, shift = np.eye(2) + 0.3 * rng.normal(size=(2, 2)), rng.normal(size=2)
        python = reeb_search.displacement_gap(linear, shift, polygon)
        compiled = reeb_kernel.displacement_gap(linear, shift[0], shift[1], polygon, len(polygon))
        assert compiled == pytest.approx(python, rel=1e-12, abs=1e-15)
        # never larger than the displacement at any vertex (the gap is a least distance)
        moved = np.linalg.norm(polygon @ (linear - np.eye(2)).T + shift, axis=1)
        assert python <= float(np.min(moved)) + 1e-12


def test_closure_screens_decide_only_beyond_ten_times_the_rounding() -> None:
    square = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    identity, kappa = np.eye(2), 1e8
    # margin = 10 (1e-14 kappa scale size + scale tol), scale = 2, size = max(|c|, |y|)
    margin = 10 * (reeb_search.COMPOSED_ERROR * kappa * 2 * 1.0 + 2 * TOL)
    for gap, expected in ((0.5 * margin, False), (2 * margin, True)):
        shift = np.array([gap, 0.0])
        assert reeb_search.clearly_open(identity, shift, square, kappa, TOL) is expected
        assert (
            reeb_kernel.clearly_open(
                identity,
                gap,
                0.0,
                square,
                4,
                kappa,
                TOL,
                reeb_search.BOUND_CONDITION_MAX,
                reeb_search.COMPOSED_ERROR,
            )
            is expected
        )
    # past BOUND_CONDITION_MAX the composed data decide nothing, however large the gap
    far = np.array([100.0, 0.0])
    assert not reeb_search.clearly_open(identity, far, square, 1e15, TOL)
    # the action over the square is 1 + 0.1 y0 (largest 1.1): short only if 1.1 + margin < min
    grad, const, min_action = np.array([0.1, 0.0]), 1.0, 1.2
    action_margin = 10 * reeb_search.COMPOSED_ERROR * kappa * 1.2
    assert reeb_search.clearly_short(square, grad, const, kappa, min_action)
    assert not reeb_search.clearly_short(square, grad, const, kappa, 1.1 + 0.5 * action_margin)
    assert not reeb_search.clearly_short(square, grad, const, 1e15, min_action)
    for minimum in (min_action, 1.1 + 0.5 * action_margin):
        assert reeb_kernel.clearly_short(
            square,
            4,
            0.1,
            0.0,
            1.0,
            kappa,
            minimum,
            reeb_search.BOUND_CONDITION_MAX,
            reeb_search.COMPOSED_ERROR,
        ) == reeb_search.clearly_short(square, grad, const, kappa, minimum)


def test_heap_pops_in_heapq_order_with_ties() -> None:
    rng = np.random.default_rng(4)
    size, entries = 0, []
    arrays = [np.zeros(500, dtype=np.int64) for _ in range(4)]
    for count in range(500):
        key, depth = int(rng.integers(0, 20)), -int(rng.integers(0, 4))
        size = heap_push(*arrays, size, key, depth, count, 1000 + count)
        heapq.heappush(entries, (key, depth, count, 1000 + count))
    popped = []
    while size:
        popped.append(int(arrays[3][0]))
        size = heap_pop(*arrays, size)
    assert popped == [heapq.heappop(entries)[3] for _ in range(500)]


def random_polytope(seed: int, facets: int) -> Polytope:
    """Random halfspaces around the unit ball (redrawn until bounded and without Lagrangian
    2-faces; a draw may keep fewer than ``facets`` facets)."""
    rng = np.random.default_rng(seed)
    while True:
        normals = rng.normal(size=(facets, 4))
        try:
            polytope = Polytope.from_halfspaces(normals, rng.uniform(0.8, 1.2, size=facets))
        except GeometryError:
            continue
        if reeb.applicability(polytope) is None:
            return polytope


def searches(polytope: Polytope, **options) -> tuple[dict, dict]:
    return (
        reeb.compute(polytope, engine="compiled", **options),
        reeb.compute(polytope, engine="python", **options),
    )


@pytest.mark.parametrize("seed", range(24))
def test_compiled_search_equals_python_search(seed: int) -> None:
    polytope = random_polytope(500 + seed, 8 + seed % 7)
    if seed % 3 == 2:
        polytope = polytope.linear_image(random_symplectic_matrix(np.random.default_rng(seed), 2))
    options = {} if seed % 4 else {"facet_once": False, "max_rotation": 2.0}
    compiled, python = searches(polytope, **options)
    assert compiled["value"] == pytest.approx(python["value"], rel=1e-12)
    ours, theirs = compiled["diagnostics"], python["diagnostics"]
    assert ours["engine"] == "compiled" and theirs["engine"] == "python"
    # Rounding differs in the last bits (FMA in BLAS), so near-ties may order differently.
    for name in ("paths_expanded", "paths_generated", "pruned_empty_domain", "pruned_action"):
        assert abs(ours[name] - theirs[name]) <= max(2, 0.01 * theirs[name]), name
    assert compiled["rotation"] == pytest.approx(python["rotation"], abs=1e-9)
    loop = np.asarray(compiled["loop"])
    verify_loop(polytope, loop, compiled["value"])


def test_degenerate_landmarks_equal_python() -> None:
    cross = Polytope.from_vertices([s * e for e in np.eye(4) for s in (1, -1)])
    compiled, python = searches(cross)
    assert compiled["value"] == pytest.approx(1.0, rel=1e-12)
    assert python["value"] == pytest.approx(1.0, rel=1e-12)
    assert compiled["diagnostics"]["paths_expanded"] == pytest.approx(
        python["diagnostics"]["paths_expanded"], rel=0.01
    )


def test_growth_from_a_tiny_store_changes_nothing() -> None:
    polytope = random_polytope(77, 14)
    graph, _ = reeb.flow_graph(polytope)
    results = []
    for capacity in (1, 100_000):
        search = CompiledTubeSearch(
            graph, facet_once=True, max_rotation=math.inf, initial_capacity=capacity
        )
        best = [math.inf]

        def on_orbit(orbit, best=best) -> float:
            best[0] = min(best[0], orbit.action)
            return best[0]

        search.run(on_orbit)
        results.append((best[0], search.stats.as_dict()))
    assert results[0][0] == results[1][0]
    small, large = results[0][1], results[1][1]
    assert {k: v for k, v in small.items() if k != "seconds"} == {
        k: v for k, v in large.items() if k != "seconds"
    }


def test_compiled_tubes_equal_python_tubes() -> None:
    """Replay every compiled tube's edge sequence with the Python ``_extend``: same tube.

    Polygons agree to rounding (median ~1e-16); a cut through an edge nearly parallel to the
    clipping line amplifies the last-bit differences of the maps (BLAS uses FMA), hence the
    looser maximum.
    """
    polytope = random_polytope(91, 12)
    graph, _ = reeb.flow_graph(polytope)
    compiled = CompiledTubeSearch(graph, facet_once=True, max_rotation=math.inf)
    compiled.run(lambda orbit: orbit.action)
    python = TubeSearch(graph, facet_once=True, max_rotation=math.inf)
    initial = python._initial_tubes()
    deviations = []
    for index in range(len(graph.nodes), int(compiled.state[0])):
        tube = compiled.tube(index)
        replay = initial[tube.start]
        for edge in tube.edges:
            replay = python._extend(replay, edge, math.inf)
            assert replay is not None
        assert tube.polygon.shape == replay.polygon.shape
        deviations.append(float(np.max(np.abs(tube.polygon - replay.polygon))))
        for name in ("linear", "shift", "inverse", "action_grad"):
            assert np.allclose(
                getattr(tube, name), getattr(replay, name), rtol=1e-10, atol=1e-12
            ), name
        assert tube.action0 == pytest.approx(replay.action0, rel=1e-10, abs=1e-12)
        assert tube.lower == pytest.approx(replay.lower, abs=1e-6)
        assert tube.rotation.theta == pytest.approx(replay.rotation.theta, abs=1e-10)
        assert tube.facets == replay.facets
        assert np.allclose(tube.moves, replay.moves, rtol=1e-8, atol=1e-9)
    assert len(deviations) > 100
    assert np.median(deviations) <= 1e-13 and max(deviations) <= 1e-6


def test_spectrum_engines_agree() -> None:
    polytope = random_polytope(31, 11)
    compiled = spectrum.compute(polytope, engine="compiled")
    python = spectrum.compute(polytope, engine="python")
    assert np.allclose(compiled["value"], python["value"], rtol=1e-10)
    assert [o["multiplicity"] for o in compiled["orbits"]] == [
        o["multiplicity"] for o in python["orbits"]
    ]


def test_time_budget_raises_in_the_compiled_engine() -> None:
    polytope = random_polytope(5, 30)
    with pytest.raises(TimeBudgetExceeded):
        spectrum.compute(polytope, time_budget=1e-4)


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(reeb.ReebError, match="unknown search engine 'rust'"):
        reeb.compute(random_polytope(1, 8), engine="rust")


def sphere_polytope(index: int) -> Polytope:
    """Convex hull of 6 random points on the sphere: simplicial, with edge nodes."""
    from viterbo.families import generate

    return generate("sphere", {"points": 6}, index).polytope


@pytest.mark.parametrize("engine", ["compiled", "python"])
def test_zero_time_cycle_rule_keeps_the_value(engine: str, monkeypatch) -> None:
    """Pure CH search (no facet-once) on a simplicial polytope: same value with the rule off."""
    polytope = sphere_polytope(3)
    with_rule = reeb.compute(polytope, facet_once=False, max_rotation=2.0, engine=engine)
    monkeypatch.setattr(reeb_search, "ZERO_RUN_RTOL", 0.0)
    without = reeb.compute(polytope, facet_once=False, max_rotation=2.0, engine=engine)
    assert with_rule["value"] == pytest.approx(without["value"], rel=1e-12)
    assert with_rule["diagnostics"]["pruned_zero_time_cycle"] > 0
    assert without["diagnostics"]["paths_expanded"] > with_rule["diagnostics"]["paths_expanded"]


def test_spectrum_of_a_simplicial_polytope_finishes_and_starts_at_the_capacity() -> None:
    """Without the zero-time rule this spectrum search spins at the vertices for minutes."""
    polytope = sphere_polytope(0)
    result = spectrum.compute(polytope, time_budget=60)
    capacity = haim_kislev.compute(polytope)["value"]
    assert result["value"][0] == pytest.approx(capacity, rel=1e-9)
    assert result["value"] == sorted(result["value"])
    assert result["diagnostics"]["pruned_zero_time_cycle"] > 1000


def test_ensure_compiled_leaves_the_kernel_compiled() -> None:
    from viterbo.invariants.reeb.kernel import advance, ensure_compiled

    ensure_compiled()
    assert advance.signatures  # compiled (or loaded from the cache) in this process


def test_a_clip_that_would_overflow_its_buffer_raises_instead_of_writing() -> None:
    """numba does not bounds-check: the polygon routines refuse a too small output buffer."""
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="buffer too small"):
        reeb_kernel.clip(square, 4, 1.0, 0.0, 0.5, TOL, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="buffer too small"):
        reeb_kernel.convex_hull(square, 4, TOL, np.zeros((3, 2)))
    assert len(jit_result(reeb_kernel.clip, square, 4, 1.0, 0.0, 0.5, TOL)) == 4


def test_zig_zag_speck_is_clipped_like_python() -> None:
    """A line through every vertex of a degenerate speck: the cut emits up to 2 m points."""
    xs = np.linspace(0.0, 1.0, 13)
    speck = np.stack([xs, np.where(np.arange(13) % 2 == 0, 1e-3, -1e-3)], axis=1)
    expected = reeb_polygon.clip(speck, np.array([0.0, 1.0]), 0.0, TOL)
    got = jit_result(reeb_kernel.clip, speck, len(speck), 0.0, 1.0, 0.0, TOL)
    assert same_polygon(got, expected)


def test_memory_cap_stops_the_search_with_a_clear_error() -> None:
    graph, _ = reeb.flow_graph(sphere_polytope(1))
    search = CompiledTubeSearch(graph, max_rotation=6.0, through_start=True, max_bytes=2**20)
    with pytest.raises(reeb_search.SearchTooLarge, match=r"more than 0\.0 GiB"):
        search.run(lambda orbit: math.inf)


def test_spectrum_is_sorted_by_the_published_loop_actions() -> None:
    cross = Polytope.from_vertices([s * e for e in np.eye(4) for s in (1, -1)])
    result = spectrum.compute(cross, k=4, window=2.2, max_rotation=2.0)
    assert result["value"] == sorted(result["value"])
    assert result["value"] == [orbit["action"] for orbit in result["orbits"]]
    assert result["value"] == pytest.approx([1.0] * 4, rel=1e-9)


def test_spectrum_engines_agree_on_a_simplicial_polytope() -> None:
    polytope = sphere_polytope(0)
    compiled = spectrum.compute(polytope, engine="compiled", time_budget=120)
    python = spectrum.compute(polytope, engine="python", time_budget=120)
    assert np.allclose(compiled["value"], python["value"], rtol=1e-10)
    assert [o["multiplicity"] for o in compiled["orbits"]] == [
        o["multiplicity"] for o in python["orbits"]
    ]


PACKED_COLUMNS = (
    "edge_start", "edge_target", "facet", "lin", "shift", "linv", "tgrad", "t0", "speed",
    "dom_start", "dom", "tmin", "hp_start", "hpn", "hpo", "max_hp",
)  # fmt: skip


@pytest.mark.parametrize("symmetric", [True, False])
def test_packing_from_the_graphs_arrays_equals_packing_from_its_edges(symmetric: bool) -> None:
    """The arrays kept from the batched build (renumbered with the nodes under a symmetry)
    give the kernel exactly what gathering the Edge objects gives."""
    from tests.invariants.reeb.test_capacity import cell_24, random_polytope
    from viterbo.geometry.symmetry import symplectic_symmetries
    from viterbo.invariants.reeb import symmetry
    from viterbo.invariants.reeb.capacity import flow_graph

    polytope = cell_24() if symmetric else random_polytope(3)
    graph, _ = flow_graph(polytope)
    graph, starts = symmetry.reduced(graph, symplectic_symmetries(polytope))
    assert (len(starts) < len(graph.nodes)) == symmetric
    assert graph.edge_arrays is not None
    search = CompiledTubeSearch(graph, starts=starts)
    from_arrays = reeb_kernel.PackedGraph(graph, search)
    graph.edge_arrays = None
    from_edges = reeb_kernel.PackedGraph(graph, search)
    for column in PACKED_COLUMNS:
        a, b = getattr(from_arrays, column), getattr(from_edges, column)
        assert np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype, column


def test_packing_ignores_arrays_that_no_longer_describe_the_edges() -> None:
    from tests.invariants.reeb.test_capacity import random_polytope
    from viterbo.invariants.reeb.capacity import flow_graph

    graph, _ = flow_graph(random_polytope(3))
    dropped = next(node for node in graph.nodes if node.edges).edges.pop()
    search = CompiledTubeSearch(graph)
    packed = reeb_kernel.PackedGraph(graph, search)
    assert len(packed.edge_target) == graph.num_edges
    assert not any(edge is dropped for edge in packed.edges)
