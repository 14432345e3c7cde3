"""Exact Lagrangian and symplectic products, and their detection."""

from __future__ import annotations

import numpy as np
import pytest

from tests.geometry.shapes import regular_polygon
from viterbo.geometry import (
    InvalidInputError,
    Polytope,
    as_lagrangian_product,
    as_symplectic_product,
    is_lagrangian_product,
    is_symplectic_product,
    lagrangian_product,
    random_symplectic_matrix,
    symplectic_product,
)
from viterbo.geometry.volume import polygon_area


def test_pentagon_product_counts_and_exact_structure() -> None:
    pentagon = regular_polygon(5)
    product = lagrangian_product(pentagon, pentagon @ np.array([[0.0, -1.0], [1.0, 0.0]]))
    assert (product.num_facets, product.num_vertices) == (10, 25)
    q_facets = np.all(product.normals[:, 2:] == 0.0, axis=1)
    p_facets = np.all(product.normals[:, :2] == 0.0, axis=1)
    assert q_facets.sum() == 5 and p_facets.sum() == 5
    assert product.incidence.sum(axis=0).tolist() == [4] * 25  # simple: 2 + 2 facets per vertex
    rebuilt = Polytope.from_vertices(product.vertices)
    np.testing.assert_allclose(rebuilt.vertices, product.vertices, atol=1e-12)
    np.testing.assert_allclose(rebuilt.normals, product.normals, atol=1e-12)
    np.testing.assert_array_equal(rebuilt.incidence, product.incidence)


def test_symplectic_product_coordinates() -> None:
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    triangle = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    product = symplectic_product(square, triangle)
    assert (product.num_facets, product.num_vertices) == (7, 12)
    # (q1, p1) from the square, (q2, p2) from the triangle.
    assert {tuple(v) for v in product.vertices[:, [0, 2]]} == {tuple(v) for v in square}
    assert {tuple(v) for v in product.vertices[:, [1, 3]]} == {tuple(v) for v in triangle}
    assert product.contains([0.5, 0.5, 0.5, 0.5]) and not product.contains([0.5, 1.6, 0.5, 1.6])


def test_detection_round_trip() -> None:
    rng = np.random.default_rng(4)
    k = Polytope.from_vertices(rng.standard_normal((9, 2)))
    t = Polytope.from_vertices(rng.standard_normal((7, 2)))
    lagrangian = lagrangian_product(k, t).translate([1.0, 2.0, 3.0, 4.0])
    factors = as_lagrangian_product(lagrangian)
    assert factors is not None
    assert polygon_area(factors[0].vertices) == pytest.approx(polygon_area(k.vertices))
    assert polygon_area(factors[1].vertices) == pytest.approx(polygon_area(t.vertices))
    np.testing.assert_allclose(factors[0].vertices, k.vertices + np.array([1.0, 2.0]), atol=1e-12)
    assert as_symplectic_product(lagrangian) is None

    symplectic = symplectic_product(k, t)
    factors = as_symplectic_product(symplectic)
    assert factors is not None
    np.testing.assert_allclose(factors[0].vertices, k.vertices, atol=1e-12)
    np.testing.assert_allclose(factors[1].vertices, t.vertices, atol=1e-12)
    assert as_lagrangian_product(symplectic) is None

    image = lagrangian.linear_image(random_symplectic_matrix(rng, 2))
    assert as_lagrangian_product(image) is None and as_symplectic_product(image) is None


def test_detection_on_non_products(cross_polytope: Polytope, tesseract: Polytope) -> None:
    assert as_lagrangian_product(cross_polytope) is None
    assert as_symplectic_product(cross_polytope) is None
    assert as_lagrangian_product(tesseract) is not None  # square x square, both ways
    assert as_symplectic_product(tesseract) is not None
    assert as_lagrangian_product(Polytope.from_vertices(regular_polygon(6))) is None
    assert is_lagrangian_product(tesseract) and is_symplectic_product(tesseract)
    assert not is_lagrangian_product(cross_polytope) and not is_symplectic_product(cross_polytope)


def test_products_have_lagrangian_two_faces() -> None:
    product = lagrangian_product(regular_polygon(5), regular_polygon(4))
    lagrangian = [f for f in product.two_faces() if product.is_lagrangian_two_face(*f)]
    assert lagrangian  # every q-facet meets every p-facet in a Lagrangian 2-face
    assert len(product.two_faces()) == 5 + 4 + 5 * 4


def test_bad_factors_raise(tesseract: Polytope) -> None:
    with pytest.raises(InvalidInputError):
        lagrangian_product(tesseract, regular_polygon(4))
    with pytest.raises(ValueError):
        symplectic_product([[0.0, 0.0], [1.0, 1.0]], regular_polygon(4))
