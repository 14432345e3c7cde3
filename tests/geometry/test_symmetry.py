"""Symplectic symmetry groups: known orders, and every element checked from its definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from viterbo.families.catalog import twenty_four_cell_roots
from viterbo.geometry import Polytope
from viterbo.geometry.symmetry import Symmetry, symplectic_symmetries
from viterbo.geometry.symplectic import J, random_symplectic_matrix


def cross_polytope() -> Polytope:
    return Polytope.from_vertices([s * e for e in np.eye(4) for s in (1, -1)])


def j_symmetrised(seed: int) -> Polytope:
    """conv of random points and their images under J, -1, -J: a group of order 4 at least."""
    points = np.random.default_rng(seed).normal(size=(6, 4))
    j = J(2)
    return Polytope.from_vertices(np.vstack([points, points @ j.T, -points, -points @ j.T]))


def assert_is_symmetry(polytope: Polytope, s: Symmetry) -> None:
    vertices = np.asarray(polytope.vertices)
    j = J(len(s.linear) // 2)
    assert np.allclose(s.linear.T @ j @ s.linear, j, atol=1e-9)
    images = (vertices - s.centre) @ s.linear.T + s.centre
    assert np.allclose(images, vertices[s.vertices], atol=1e-9)
    assert sorted(s.vertices.tolist()) == list(range(len(vertices)))
    # Facet i goes onto facet facets[i]: its vertices land on that facet's hyperplane.
    normals, offsets = np.asarray(polytope.normals), np.asarray(polytope.offsets)
    on_facet = np.abs(vertices @ normals.T - offsets) < 1e-9  # (V, F)
    for i in range(len(normals)):
        landed = images[on_facet[:, i]] @ normals[s.facets[i]]
        assert np.allclose(landed, offsets[s.facets[i]], atol=1e-9)


@pytest.mark.parametrize(
    "polytope, order",
    [
        (Polytope.from_vertices(list(itertools.product([-1, 1], repeat=2))), 4),
        (cross_polytope(), 32),
        (Polytope.from_vertices(list(itertools.product([-1, 1], repeat=4))), 32),
        (twenty_four_cell_roots(), 96),
        (Polytope.from_vertices(np.random.default_rng(3).normal(size=(20, 4))), 1),
    ],
    ids=["square", "cross-polytope", "tesseract", "24-cell", "random"],
)
def test_group_orders_and_every_element_is_a_symplectic_symmetry(
    polytope: Polytope, order: int
) -> None:
    group = symplectic_symmetries(polytope)
    assert len(group) == order
    assert np.array_equal(group[0].vertices, np.arange(len(polytope.vertices)))  # identity
    for s in group:
        assert_is_symmetry(polytope, s)
    # A group: closed under composition, no element twice.
    keys = {tuple(s.vertices) for s in group}
    assert len(keys) == order
    for a, b in itertools.product(group[: min(order, 8)], repeat=2):
        assert tuple(a.vertices[b.vertices]) in keys


def test_the_group_of_a_symplectic_image_is_conjugate() -> None:
    rng = np.random.default_rng(11)
    matrix = random_symplectic_matrix(rng)
    image = Polytope.from_vertices(
        np.asarray(twenty_four_cell_roots().vertices) @ matrix.T + np.array([1.0, -2.0, 0.5, 3.0])
    )
    group = symplectic_symmetries(image)
    assert len(group) == 96
    for s in group:
        assert_is_symmetry(image, s)


@pytest.mark.parametrize("seed", range(4))
def test_a_polytope_built_symmetric_under_j_has_j_in_its_group(seed: int) -> None:
    polytope = j_symmetrised(seed)
    group = symplectic_symmetries(polytope)
    assert len(group) % 4 == 0
    assert any(np.allclose(s.linear, J(2), atol=1e-9) for s in group)
    for s in group:
        assert_is_symmetry(polytope, s)
