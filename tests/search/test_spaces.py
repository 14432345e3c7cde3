"""Search spaces: parametrisations that round-trip, gauges that keep the ratio, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from viterbo.families.products import regular_polygon
from viterbo.geometry import Polytope, lagrangian_product, symplectic_product
from viterbo.search.objective import evaluate_point
from viterbo.search.spaces import (
    HalfspaceSpace,
    LagrangianProductSpace,
    SearchSpaceError,
    SymplecticProductSpace,
    parse_space,
    polytope_of,
    space_from_spec,
)

SPACES = [HalfspaceSpace(9), LagrangianProductSpace(5, 4), SymplecticProductSpace(3, 6)]


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_random_starts_have_the_space_facet_count_and_are_seeded(space) -> None:
    first = space.random_start(np.random.default_rng(11))
    again = space.random_start(np.random.default_rng(11))
    assert np.array_equal(first, again)
    assert polytope_of(space, first).num_facets == space.num_facets


def _moved(space, x: np.ndarray) -> np.ndarray:
    """``x`` translated and scaled (for Lagrangian products: each factor on its own)."""
    if space.name == "halfspace":
        normals, offsets = x[: 4 * space.facets].reshape(-1, 4), x[4 * space.facets :]
        shifted = 2.5 * offsets + normals @ np.array([0.1, -0.2, 0.05, 0.3])
        return np.concatenate([normals.ravel(), shifted])
    k, m = space.k, space.l
    a, s, b, t = x[:k], x[k : 2 * k], x[2 * k : 2 * k + m], x[2 * k + m :]
    # Lagrangian products: each factor has its own scale; symplectic ones: one common scale.
    first, second = (1.7, 0.6) if space.name == "lagrangian-product" else (1.3, 1.3)
    s = first * s + np.c_[np.cos(a), np.sin(a)] @ np.array([0.1, -0.2])
    t = second * t + np.c_[np.cos(b), np.sin(b)] @ np.array([0.3, 0.05])
    return np.concatenate([a, s, b, t])


@pytest.mark.parametrize("space", SPACES, ids=lambda s: s.name)
def test_normalising_keeps_the_ratio_and_is_idempotent(space) -> None:
    x = space.random_start(np.random.default_rng(4))
    moved = _moved(space, x)
    normalised = space.normalise(moved)
    assert np.allclose(space.normalise(normalised), normalised, atol=1e-12)
    assert np.allclose(normalised, x, atol=1e-9)  # the start was normalised already
    before = evaluate_point(space, moved, with_gradient=False).ratio
    after = evaluate_point(space, normalised, with_gradient=False).ratio
    assert after == pytest.approx(before, rel=1e-10)


def test_symplectic_products_normalise_to_unit_volume() -> None:
    space = SymplecticProductSpace(4, 4)
    square = Polytope.from_vertices([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    product = symplectic_product(square, square.scale(3.0))
    x = space.from_polytope(product)
    point = evaluate_point(space, x, with_gradient=False)
    # c = min(4, 36), vol = 4 * 36: sys = 16 / 288, whatever the common scale.
    assert point.ratio == pytest.approx(16 / 288, rel=1e-12)
    assert point.volume == pytest.approx(1.0, rel=1e-12)


def test_the_hko_product_round_trips_through_the_product_space() -> None:
    product = lagrangian_product(regular_polygon(5), regular_polygon(5, -np.pi / 2))
    space = LagrangianProductSpace(5, 5)
    point = evaluate_point(space, space.from_polytope(product), with_gradient=False)
    assert point.ratio == pytest.approx((3 + np.sqrt(5)) / 5, rel=1e-12)
    assert point.level == "confirmed"
    with pytest.raises(SearchSpaceError, match="4-gon"):
        LagrangianProductSpace(5, 4).from_polytope(product)


def test_parse_space_and_specs() -> None:
    assert parse_space("halfspace:12") == HalfspaceSpace(12)
    assert parse_space("lagrangian-product:5,5") == LagrangianProductSpace(5, 5)
    assert space_from_spec(SymplecticProductSpace(3, 4).spec) == SymplecticProductSpace(3, 4)
    for bad in ("halfspace", "halfspace:x", "cube:4", "lagrangian-product:5", "halfspace:3"):
        with pytest.raises(SearchSpaceError):
            parse_space(bad)
