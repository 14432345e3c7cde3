"""Exhaustive cross-checks on 12-facet products (a few seconds each; marked slow)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.invariants.capacity_cases import random_polygon, regular_polygon
from viterbo.geometry import lagrangian_product, symplectic_product
from viterbo.invariants import billiard, haim_kislev
from viterbo.invariants import symplectic_product as symplectic
from viterbo.invariants.certificate import verify_loop

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("m_k", "m_t", "phase"), [(6, 6, 0.3), (5, 7, 0.1), (6, 6, 0.0)])
def test_billiard_equals_haim_kislev_on_12_facet_products(m_k: int, m_t: int, phase: float) -> None:
    polytope = lagrangian_product(regular_polygon(m_k), regular_polygon(m_t, phase))
    value = billiard.compute(polytope)["value"]
    result = haim_kislev.compute(polytope)
    assert result["value"] == pytest.approx(value, rel=1e-9)
    verify_loop(polytope, result["loop"], result["value"])


@pytest.mark.parametrize("seed", range(3))
def test_random_12_facet_products(seed: int) -> None:
    rng = np.random.default_rng(900 + seed)
    polytope = lagrangian_product(random_polygon(rng, 5), random_polygon(rng, 7))
    assert haim_kislev.compute(polytope)["value"] == pytest.approx(
        billiard.compute(polytope)["value"], rel=1e-9
    )


def test_symplectic_product_of_hexagons() -> None:
    polytope = symplectic_product(regular_polygon(6), regular_polygon(6, 0.2) * 1.1)
    assert haim_kislev.compute(polytope)["value"] == pytest.approx(
        symplectic.compute(polytope)["value"], rel=1e-9
    )
