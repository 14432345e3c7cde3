"""Two independent volume algorithms, exact values and invariances."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from tests.geometry.shapes import regular_polygon
from viterbo.geometry import (
    InvalidInputError,
    Polytope,
    block_rotation,
    lagrangian_product,
    random_symplectic_matrix,
    symplectic_product,
)
from viterbo.geometry.volume import (
    _planar_moments,
    polygon_area,
    volume_cone_decomposition,
    volume_qhull,
)

METHODS = [volume_qhull, volume_cone_decomposition]


@pytest.mark.parametrize("volume", METHODS)
def test_reference_volumes(
    volume,
    tesseract: Polytope,
    cross_polytope: Polytope,
    simplex: Polytope,
    twenty_four_cell: Polytope,
) -> None:
    assert volume(tesseract) == pytest.approx(16.0, rel=1e-12)
    assert volume(cross_polytope) == pytest.approx(2.0 / 3.0, rel=1e-12)
    assert volume(simplex) == pytest.approx(1.0 / 24.0, rel=1e-12)
    assert volume(twenty_four_cell) == pytest.approx(2.0, rel=1e-12)
    pentagon = regular_polygon(5)
    hko = lagrangian_product(pentagon, pentagon @ np.array([[0.0, 1.0], [-1.0, 0.0]]))
    assert volume(hko) == pytest.approx((2.5 * np.sin(2 * np.pi / 5)) ** 2, rel=1e-12)


@pytest.mark.parametrize("volume", METHODS)
def test_products_have_product_volume(volume) -> None:
    rng = np.random.default_rng(8)
    for _ in range(5):
        first = Polytope.from_vertices(rng.standard_normal((8, 2)))
        second = Polytope.from_vertices(rng.standard_normal((6, 2)))
        expected = polygon_area(first.vertices) * polygon_area(second.vertices)
        assert volume(lagrangian_product(first, second)) == pytest.approx(expected, rel=1e-12)
        assert volume(symplectic_product(first, second)) == pytest.approx(expected, rel=1e-12)


def test_methods_agree_on_random_polytopes() -> None:
    rng = np.random.default_rng(12)
    for dim, count in [(2, 12), (3, 15), (4, 6), (4, 30), (4, 80), (5, 12)]:
        for _ in range(3):
            polytope = Polytope.from_vertices(rng.standard_normal((count, dim)))
            a, b = volume_qhull(polytope), volume_cone_decomposition(polytope)
            assert abs(a - b) <= 1e-10 * a
    for facets in (8, 20, 40):
        normals = rng.standard_normal((facets, 4))
        polytope = Polytope.from_halfspaces(normals, np.linalg.norm(normals, axis=1))
        a, b = volume_qhull(polytope), volume_cone_decomposition(polytope)
        assert abs(a - b) <= 1e-10 * a


@pytest.mark.parametrize("volume", METHODS)
def test_volume_invariances(volume) -> None:
    rng = np.random.default_rng(21)
    polytope = Polytope.from_vertices(rng.standard_normal((25, 4)))
    reference = volume(polytope)
    assert volume(polytope.translate([10.0, -5.0, 3.0, 100.0])) == pytest.approx(
        reference, rel=1e-10
    )
    assert volume(polytope.scale(1.7)) == pytest.approx(1.7**4 * reference, rel=1e-10)
    assert volume(polytope.linear_image(block_rotation(0.3, 2.0))) == pytest.approx(
        reference, rel=1e-10
    )
    for _ in range(5):
        image = polytope.linear_image(random_symplectic_matrix(rng, 2))
        assert volume(image) == pytest.approx(reference, rel=1e-10)


def test_polygon_area() -> None:
    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 3.0], [0.0, 3.0]])
    assert polygon_area(square) == 6.0
    assert polygon_area(square[::-1]) == -6.0
    assert polygon_area(square + 1e8) == pytest.approx(6.0, rel=1e-8)
    hexagon = Polytope.from_vertices(regular_polygon(6))
    assert volume_cone_decomposition(hexagon) == pytest.approx(3 * np.sqrt(3) / 2, rel=1e-14)
    assert volume_qhull(hexagon) == pytest.approx(3 * np.sqrt(3) / 2, rel=1e-14)
    with pytest.raises(InvalidInputError):
        polygon_area(np.zeros((2, 2)))
    with pytest.raises(InvalidInputError):
        polygon_area(np.zeros((4, 3)))


def test_three_dimensional_cube() -> None:
    cube = Polytope.from_vertices(list(itertools.product([0.0, 2.0], repeat=3)))
    assert volume_cone_decomposition(cube) == pytest.approx(8.0, rel=1e-13)


def test_planar_moments_of_degenerate_rows_are_zero_areas_without_warnings() -> None:
    # A search's trial point can shrink a 2-face to a segment or a point: area 0, a finite
    # centroid, no NaN and no RuntimeWarning.
    vertices = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [2, 2, 0, 0.0]])
    masks = np.array([[1, 1, 1, 0], [0, 0, 0, 1], [1, 0, 0, 1]], dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        areas, centroids = _planar_moments(vertices, masks)
    np.testing.assert_allclose(areas, [0.5, 0.0, 0.0])
    np.testing.assert_allclose(centroids[:, :2], [[1 / 3, 1 / 3], [2, 2], [1, 1]])
