"""``Polytope.is_lagrangian_two_face`` reads a cached table of ``omega(n_i, n_j)``: it must give
exactly the scalar ``omega`` values (so the atol decision never changes)."""

from __future__ import annotations

import numpy as np
import pytest

from viterbo.geometry import InvalidInputError, Polytope, omega
from viterbo.geometry.products import lagrangian_product


def _random_polytope(seed: int, facets: int) -> Polytope:
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(facets, 4))
    return Polytope.from_halfspaces(normals, np.ones(facets))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_omega_table_equals_scalar_omega(seed: int) -> None:
    polytope = _random_polytope(seed, 20)
    table = polytope._normal_omegas
    assert table is not None
    for i in range(polytope.num_facets):
        for j in range(polytope.num_facets):
            assert float(table[i, j]) == float(omega(polytope.normals[i], polytope.normals[j]))


def test_lagrangian_decision_matches_threshold() -> None:
    polytope = _random_polytope(3, 16)
    for i, j in polytope.two_faces():
        value = abs(float(omega(polytope.normals[i], polytope.normals[j])))
        for atol in (0.0, value, np.nextafter(value, 0.0), 1e-9, 0.5):
            assert polytope.is_lagrangian_two_face(i, j, atol=atol) == (value <= atol)


def test_product_two_faces_counted() -> None:
    square = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]
    product = lagrangian_product(square, square)
    lagrangian = [f for f in product.two_faces() if product.is_lagrangian_two_face(*f)]
    # Only the (q1, p1) and (q2, p2) facet pairs are symplectic: 4 + 4 of the 24 2-faces.
    assert len(product.two_faces()) == 24 and len(lagrangian) == 16


def test_odd_dimension_still_raises() -> None:
    cube = Polytope.from_vertices(np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T)
    with pytest.raises(InvalidInputError):
        cube.is_lagrangian_two_face(0, 1)
