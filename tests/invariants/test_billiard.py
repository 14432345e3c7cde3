"""billiard: reference values, agreement with haim-kislev, loops, applicability."""

from __future__ import annotations

import numpy as np
import pytest

from tests.invariants.capacity_cases import (
    HKO_CAPACITY,
    SQUARE,
    TRIANGLE,
    hko,
    random_lagrangian_product,
    random_polygon,
    regular_polygon,
    simplex,
    square_diamond,
    tesseract,
    triangle_product,
)
from viterbo.geometry import lagrangian_product, symplectic_product
from viterbo.invariants import billiard, haim_kislev, registry
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.registry import TimeBudgetExceeded


@pytest.mark.parametrize(
    ("factory", "capacity"),
    [(hko, HKO_CAPACITY), (square_diamond, 4.0), (tesseract, 4.0), (triangle_product, 1.5)],
)
def test_reference_values(factory, capacity: float) -> None:  # type: ignore[no-untyped-def]
    polytope = factory()
    result = billiard.compute(polytope)
    assert result["value"] == pytest.approx(capacity, rel=1e-9)
    verify_loop(polytope, result["loop"], result["value"])


def test_triangle_product_is_three_halves_not_three() -> None:
    # MATH.md §6: the factor-2 bookkeeping bug gave 3 here
    assert billiard.compute(triangle_product())["value"] == pytest.approx(1.5, rel=1e-12)


def test_hko_bounces_three_times() -> None:
    result = billiard.compute(hko())
    assert result["diagnostics"]["bounces"] == 3
    assert len(result["bounce_points"]) == 3


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_haim_kislev_on_random_products(seed: int) -> None:
    polytope = random_lagrangian_product(np.random.default_rng(100 + seed), max_facets=10)
    assert polytope.num_facets <= 10
    value = billiard.compute(polytope)["value"]
    assert value == pytest.approx(haim_kislev.compute(polytope)["value"], rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_swapping_factors(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    k, t = random_polygon(rng, 5), random_polygon(rng, 6)
    assert billiard.compute(lagrangian_product(k, t))["value"] == pytest.approx(
        billiard.compute(lagrangian_product(t, k))["value"], rel=1e-9
    )


def test_translation_of_factors() -> None:
    k, t = regular_polygon(7, 0.2), regular_polygon(5, 0.7)
    base = billiard.compute(lagrangian_product(k, t))["value"]
    moved = lagrangian_product(k + np.array([3.0, -1.0]), t + np.array([0.5, 8.0]))
    result = billiard.compute(moved)
    assert result["value"] == pytest.approx(base, rel=1e-9)
    verify_loop(moved, result["loop"], result["value"])


def test_regular_polygon_products_with_many_edges() -> None:
    polytope = lagrangian_product(regular_polygon(12), regular_polygon(12, 0.1))
    result = billiard.compute(polytope)
    verify_loop(polytope, result["loop"], result["value"])
    # the product contains the (inscribed-disc) ball-like body cos(pi/12)^2 * (D x D)
    assert 2.0 < result["value"] < 4.0


def test_bounce_polygon_length_is_the_value() -> None:
    rng = np.random.default_rng(5)
    k, t = random_polygon(rng, 5), random_polygon(rng, 4)
    polytope = lagrangian_product(k, t)
    result = billiard.compute(polytope)
    points = np.array(result["bounce_points"])
    steps = np.roll(points, -1, axis=0) - points
    assert billiard.support(t, steps).sum() == pytest.approx(result["value"], rel=1e-12)
    # every bounce point is on the boundary of K, on the edge the LP put it on
    for q, facet in zip(points, result["edges"], strict=True):
        assert polytope.normals[facet][:2] @ q == pytest.approx(polytope.offsets[facet], abs=1e-9)
    assert result["value"] == pytest.approx(haim_kislev.compute(polytope)["value"], rel=1e-9)


def test_balanced_tuples_of_square_and_triangle() -> None:
    square = billiard.product_factors(lagrangian_product(SQUARE, SQUARE))[0]
    tuples = billiard.balanced_tuples(square.normals)
    assert sum(len(t) == 2 for t in tuples) == 2  # two antiparallel pairs
    assert sum(len(t) == 3 for t in tuples) == 0  # 0 is never strictly inside 3 of them
    triangle = billiard.product_factors(triangle_product())[0]
    assert billiard.balanced_tuples(triangle.normals) == [(0, 1, 2), (0, 2, 1)]


def test_not_applicable_outside_lagrangian_products() -> None:
    algorithm = registry.get("capacity", "billiard")
    assert algorithm.applicability(hko()) is None
    assert "Lagrangian" in algorithm.applicability(simplex())
    sym = symplectic_product(TRIANGLE, SQUARE)
    assert "Lagrangian" in algorithm.applicability(sym)
    # compute refuses with the same reason applicability gives
    with pytest.raises(billiard.BilliardError) as caught:
        billiard.compute(simplex())
    assert str(caught.value) == algorithm.applicability(simplex())
    assert str(caught.value) == billiard.NOT_A_LAGRANGIAN_PRODUCT


def test_tiny_time_budget_raises() -> None:
    polytope = lagrangian_product(regular_polygon(12), regular_polygon(12, 0.1))  # 146 edge tuples
    with pytest.raises(TimeBudgetExceeded) as caught:
        billiard.compute(polytope, time_budget=1e-9)
    assert "billiard" in caught.value.detail
    result = billiard.compute(polytope, time_budget=60.0)
    assert result["value"] == pytest.approx(billiard.compute(polytope)["value"], rel=1e-12)
