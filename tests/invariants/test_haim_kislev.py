"""haim-kislev: reference values, invariances, loops, enumeration, time budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.invariants.capacity_cases import (
    HKO_CAPACITY,
    REFERENCE,
    SQUARE,
    cross_polytope,
    hko,
    random_polygon,
    random_polytope,
    regular_polygon,
    twenty_four_cell,
)
from viterbo.geometry import Polytope, lagrangian_product, omega, random_symplectic_matrix
from viterbo.invariants import haim_kislev, registry
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.haim_kislev import (
    MAX_CYCLES,
    HaimKislevError,
    compute,
    count_cycles,
    enumerate_cycles,
    facet_graph,
)
from viterbo.invariants.registry import TimeBudgetExceeded


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_values(name: str) -> None:
    factory, capacity, _ = REFERENCE[name]
    polytope = factory()
    result = compute(polytope)
    assert result["value"] == pytest.approx(capacity, rel=1e-9)
    verify_loop(polytope, result["loop"], result["value"])
    # σ and β reproduce the value: c = 1 / (2 Q(σ, β)), Σ β h = 1, Σ β n = 0
    sigma, beta = np.array(result["sigma"]), np.array(result["beta"])
    normals, offsets = polytope.normals[sigma], polytope.offsets[sigma]
    assert np.all(beta >= 0)
    assert np.allclose(beta @ normals, 0.0, atol=1e-9)
    centre = polytope.vertices.mean(axis=0)
    assert beta @ (offsets - normals @ centre) == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("m", [3, 4, 5, 7])
def test_polygons_area(m: int) -> None:
    polygon = Polytope.from_vertices(regular_polygon(m) * 1.5 + 2.0)
    area = 0.5 * m * 1.5**2 * math.sin(2 * math.pi / m)
    assert compute(polygon)["value"] == pytest.approx(area, rel=1e-9)


def test_registered_and_odd_dimension_not_applicable() -> None:
    algorithm = registry.get("capacity", "haim-kislev")
    assert algorithm.exact
    cube3 = Polytope.from_vertices(
        np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    )
    assert "even" in algorithm.applicability(cube3)
    assert algorithm.applicability(cross_polytope()) is None


@pytest.fixture(scope="module")
def generic() -> tuple[Polytope, float]:
    polytope = random_polytope(np.random.default_rng(7), 8)
    return polytope, compute(polytope)["value"]


def test_translation_invariance(generic: tuple[Polytope, float]) -> None:
    polytope, value = generic
    moved = polytope.translate(np.array([3.0, -20.0, 5.0, 100.0]))
    assert compute(moved)["value"] == pytest.approx(value, rel=1e-9)


def test_scaling_is_quadratic(generic: tuple[Polytope, float]) -> None:
    polytope, value = generic
    assert compute(polytope.scale(1.7))["value"] == pytest.approx(1.7**2 * value, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_symplectic_invariance(generic: tuple[Polytope, float], seed: int) -> None:
    polytope, value = generic
    matrix = random_symplectic_matrix(np.random.default_rng(seed), 2)
    image = polytope.linear_image(matrix)
    result = compute(image)
    assert result["value"] == pytest.approx(value, rel=1e-9)
    verify_loop(image, result["loop"], result["value"])


def test_non_symplectic_map_changes_value(generic: tuple[Polytope, float]) -> None:
    # the test above can fail: a volume-preserving but non-symplectic map moves c
    polytope, value = generic
    stretch = np.diag([2.0, 1.0, 1.0, 0.5])
    assert abs(compute(polytope.linear_image(stretch))["value"] - value) > 1e-3 * value


def test_swapping_lagrangian_factors() -> None:
    rng = np.random.default_rng(11)
    k, t = random_polygon(rng, 4), random_polygon(rng, 5)
    assert compute(lagrangian_product(k, t))["value"] == pytest.approx(
        compute(lagrangian_product(t, k))["value"], rel=1e-9
    )


def test_monotone_under_inclusion() -> None:
    outer = lagrangian_product(SQUARE, SQUARE)
    inner = lagrangian_product(regular_polygon(4, math.pi / 4) * math.sqrt(2) * 0.9, SQUARE)
    assert compute(inner)["value"] <= compute(outer)["value"]


def test_cycle_enumeration_on_complete_digraph() -> None:
    successors = [[j for j in range(4) if j != i] for i in range(4)]
    by_length = enumerate_cycles(successors)
    # C(4,2)·1! + C(4,3)·2! + C(4,4)·3! = 6 + 8 + 6
    assert {k: len(c) for k, (c, _) in by_length.items()} == {2: 6, 3: 8, 4: 6}
    for cycles, masks in by_length.values():
        assert np.all(cycles[:, 0] == cycles.min(axis=1))  # each found from its minimum once
        assert len({tuple(c) for c in cycles}) == len(cycles)
        assert np.all(masks == np.bitwise_or.reduce(1 << cycles, axis=1))


def test_facet_graph_respects_omega_and_adjacency() -> None:
    polytope = REFERENCE["ch_six_vertex"][0]()
    successors = facet_graph(polytope.normals, polytope.incidence)
    share = (polytope.incidence.astype(int) @ polytope.incidence.T.astype(int)) > 0
    edges = 0
    for i in range(polytope.num_facets):
        for j in range(polytope.num_facets):
            expected = (
                i != j and share[i, j] and omega(polytope.normals[i], polytope.normals[j]) >= -1e-9
            )
            assert (j in successors[i]) == expected
            edges += expected
    assert 0 < edges < polytope.num_facets * (polytope.num_facets - 1)


def _cycle_total(successors: list[list[int]], **kwargs: int) -> int:
    return sum(len(cycles) for cycles, _ in enumerate_cycles(successors, **kwargs).values())


@pytest.mark.parametrize("nodes", range(2, 10))
def test_cycle_count_on_complete_digraph(nodes: int) -> None:
    successors = [[j for j in range(nodes) if j != i] for i in range(nodes)]
    # Σ_k C(n, k) (k-1)!: choose the support, then a cyclic order of it
    expected = sum(math.comb(nodes, k) * math.factorial(k - 1) for k in range(2, nodes + 1))
    assert count_cycles(successors) == expected


@pytest.mark.parametrize("seed", range(40))
def test_cycle_count_matches_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 12))
    adjacency = rng.random((size, size)) < rng.uniform(0.1, 0.9)
    successors = [[j for j in np.flatnonzero(row) if j != i] for i, row in enumerate(adjacency)]
    assert count_cycles(successors) == _cycle_total(successors)


def test_cycle_count_on_facet_graphs() -> None:
    for polytope in (
        hko(),
        REFERENCE["ch_six_vertex"][0](),
        random_polytope(np.random.default_rng(3), 9),
    ):
        successors = facet_graph(polytope.normals, polytope.incidence)
        assert count_cycles(successors) == _cycle_total(successors)


def test_cycle_limit_is_exact() -> None:
    successors = facet_graph(hko().normals, hko().incidence)
    total = _cycle_total(successors)
    assert count_cycles(successors, max_cycles=total) == total
    assert _cycle_total(successors, max_cycles=total) == total
    assert count_cycles(successors, max_cycles=total - 1) > total - 1  # stopped early
    with pytest.raises(HaimKislevError, match="reeb"):
        enumerate_cycles(successors, max_cycles=total - 1)


def test_enumeration_guard_when_the_count_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # too many states for the counting pass: it answers "unknown" and the DFS guard refuses
    successors = [[j for j in range(9) if j != i] for i in range(9)]
    monkeypatch.setattr(haim_kislev, "COUNT_MAX_STATES", 10)
    assert count_cycles(successors) is None
    with pytest.raises(HaimKislevError, match="reeb"):
        enumerate_cycles(successors, max_cycles=1000)


@pytest.mark.parametrize("factory", [cross_polytope, twenty_four_cell])
def test_too_many_cycles_refused_by_the_count(
    factory,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    polytope = factory()
    successors = facet_graph(polytope.normals, polytope.incidence)
    assert count_cycles(successors) > MAX_CYCLES
    # refused before the DFS builds a single path block
    monkeypatch.setattr(haim_kislev, "PATH_BLOCK", 0)
    with pytest.raises(HaimKislevError, match=f"more than {MAX_CYCLES} facet cycles.*reeb"):
        compute(polytope)


def test_tiny_time_budget_raises() -> None:
    polytope = hko()  # 10 facets, thousands of cycles
    with pytest.raises(TimeBudgetExceeded) as caught:
        compute(polytope, time_budget=1e-9)
    assert caught.value.detail  # says what was being done
    assert compute(polytope, time_budget=60.0)["value"] == pytest.approx(HKO_CAPACITY, rel=1e-9)


def test_result_is_json_ready() -> None:
    import json

    result = compute(REFERENCE["simplex"][0]())
    assert json.loads(json.dumps(result))["value"] == pytest.approx(0.25)
    assert result["diagnostics"]["cycles_examined"] > 0


@pytest.mark.parametrize("seed", range(3))
def test_agrees_with_reeb_on_generic_polytopes(seed: int) -> None:
    try:
        reeb = registry.get("capacity", "reeb")
    except KeyError:
        pytest.skip("reeb is not registered")
    polytope = random_polytope(np.random.default_rng(500 + seed), 7)
    assert reeb.applicability(polytope) is None  # generic: no Lagrangian 2-face
    assert compute(polytope)["value"] == pytest.approx(reeb.compute(polytope)["value"], rel=1e-9)


# ------------------------------------------------------- compiled kernel and work budget


def _maximise(polytope: Polytope, engine: str) -> tuple[list, object]:
    normals, offsets, _ = haim_kislev._translated(polytope)
    return haim_kislev.maximise_q(normals, offsets, polytope.incidence, engine=engine)


@pytest.mark.parametrize(
    "polytope",
    [
        pytest.param(hko(), id="hko"),
        pytest.param(random_polytope(np.random.default_rng(42), 12), id="random-12"),
        pytest.param(random_polytope(np.random.default_rng(43), 14), id="random-14"),
        pytest.param(
            lagrangian_product(random_polygon(np.random.default_rng(5), 6), regular_polygon(5)),
            id="product-6x5",
        ),
        pytest.param(lagrangian_product(regular_polygon(4), regular_polygon(4)), id="square-4x4"),
    ],
)
def test_compiled_and_numpy_stationary_points_agree(polytope: Polytope) -> None:
    # The kernel does the numpy path's arithmetic cycle by cycle: the same maximisers, the same
    # max Q to rounding, and the same admissible and singular cycles up to a handful of
    # rounding-level decisions at the thresholds.
    fast, fast_stats = _maximise(polytope, "compiled")
    slow, slow_stats = _maximise(polytope, "numpy")
    assert fast_stats.cycles == slow_stats.cycles > 1000
    assert fast_stats.candidates_solved == slow_stats.candidates_solved
    assert fast[0].q_value == pytest.approx(slow[0].q_value, rel=1e-12)
    # (tied maximisers may come in another order: their Q differ by rounding)
    slow_weights = {c.order: c.weights for c in slow}
    assert {c.order for c in fast} == set(slow_weights)
    for c in fast:
        np.testing.assert_allclose(c.weights, slow_weights[c.order], rtol=1e-9, atol=1e-12)
    # (equal here; the slack allows another LAPACK to round one threshold case differently)
    admitted = fast_stats.candidates_admissible - slow_stats.candidates_admissible
    assert abs(admitted) <= max(1, slow_stats.candidates_admissible // 5000)
    assert abs(fast_stats.singular - slow_stats.singular) <= max(1, slow_stats.singular // 5000)


def test_auto_engine_keeps_small_polytopes_off_numba() -> None:
    # Few cycles: the numpy path, so `atlas compute` on a small polytope never imports numba.
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from tests.invariants.capacity_cases import hko\n"
        "from viterbo.invariants.haim_kislev import compute\n"
        "value = compute(hko())['value']\n"
        "print(value, 'numba' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]  # `tests.` imports resolve from the checkout
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root
    ).stdout.split()
    assert float(out[0]) == pytest.approx(HKO_CAPACITY, rel=1e-9)
    assert out[1] == "False"
    assert _maximise(hko(), "auto")[1].cycles < haim_kislev.COMPILED_MIN_CYCLES


def test_a_cycle_budget_stops_before_any_solve_at_the_same_count() -> None:
    from viterbo.invariants.registry import WorkBudgetExceeded

    polytope = hko()
    full = compute(polytope)
    cycles = full["diagnostics"]["cycles_examined"]
    messages = []
    for _ in range(2):
        with pytest.raises(WorkBudgetExceeded) as caught:
            compute(polytope, max_cycles=cycles - 1)
        assert caught.value.limit_name == "max_cycles"
        messages.append(caught.value.detail)
    assert messages[0] == messages[1]
    assert messages[0].endswith(f"facet cycles counted, over max_cycles = {cycles - 1}")
    assert compute(polytope, max_cycles=cycles)["value"] == full["value"]
    assert registry.get("capacity", "haim-kislev").work_limits == ("max_cycles",)
