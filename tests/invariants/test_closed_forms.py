"""area-2d and symplectic-product: values, loops, applicability, agreement with haim-kislev."""

from __future__ import annotations

import numpy as np
import pytest

from tests.invariants.capacity_cases import (
    SQUARE,
    TRIANGLE,
    random_polygon,
    random_symplectic_product,
    regular_polygon,
    tesseract,
)
from viterbo.geometry import Polytope, lagrangian_product, symplectic_product
from viterbo.geometry.volume import polygon_area
from viterbo.invariants import area_2d, haim_kislev, registry
from viterbo.invariants import symplectic_product as symplectic
from viterbo.invariants.certificate import verify_loop


def test_area_2d_value_and_loop() -> None:
    polygon = Polytope.from_vertices(random_polygon(np.random.default_rng(3), 6) + 10.0)
    result = area_2d.compute(polygon)
    assert result["value"] == pytest.approx(polygon_area(polygon.vertices), rel=1e-12)
    verify_loop(polygon, result["loop"], result["value"])
    assert result["value"] == pytest.approx(haim_kislev.compute(polygon)["value"], rel=1e-9)


def test_area_2d_only_for_polygons() -> None:
    algorithm = registry.get("capacity", "area-2d")
    assert algorithm.applicability(Polytope.from_vertices(SQUARE)) is None
    assert "dimension 2" in algorithm.applicability(tesseract())


def test_symplectic_product_min_area() -> None:
    polytope = symplectic_product(regular_polygon(6) * 2.0, TRIANGLE)
    result = symplectic.compute(polytope)
    assert result["value"] == pytest.approx(polygon_area(TRIANGLE), rel=1e-12)
    assert result["areas"][1] < result["areas"][0]
    verify_loop(polytope, result["loop"], result["value"])


def test_tesseract_is_a_symplectic_product() -> None:
    assert symplectic.compute(tesseract())["value"] == pytest.approx(4.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_symplectic_product_agrees_with_haim_kislev(seed: int) -> None:
    polytope = random_symplectic_product(np.random.default_rng(300 + seed), max_facets=8)
    value = symplectic.compute(polytope)["value"]
    assert value == pytest.approx(haim_kislev.compute(polytope)["value"], rel=1e-9)


def test_symplectic_product_applicability() -> None:
    algorithm = registry.get("capacity", "symplectic-product")
    assert algorithm.applicability(symplectic_product(SQUARE, TRIANGLE)) is None
    assert "symplectic product" in algorithm.applicability(lagrangian_product(TRIANGLE, SQUARE))
    with pytest.raises(ValueError, match="symplectic product"):
        symplectic.compute(lagrangian_product(TRIANGLE, SQUARE))
