"""Reference polytopes with known capacities (MATH.md §5), shared by the capacity tests."""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.spatial import ConvexHull

from viterbo.geometry import Polytope, lagrangian_product, symplectic_product


def regular_polygon(m: int, phase: float = 0.0, radius: float = 1.0) -> np.ndarray:
    """Vertices of a regular m-gon (counter-clockwise)."""
    angles = 2 * np.pi * np.arange(m) / m + phase
    return radius * np.column_stack([np.cos(angles), np.sin(angles)])


def rotate(points: np.ndarray, angle: float) -> np.ndarray:
    """Points rotated by ``angle`` about the origin."""
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, -s], [s, c]]).T


SQUARE = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
DIAMOND = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
PENTAGON = regular_polygon(5)
HKO_CAPACITY = 2 * math.cos(math.pi / 10) * (1 + math.cos(math.pi / 5))
HKO_VOLUME = (2.5 * math.sin(2 * math.pi / 5)) ** 2
# The equilateral triangle with this normalisation gives c(Δ x Δ) = 3/2 (MATH.md §6).
TRIANGLE = regular_polygon(3, phase=math.pi / 2)


def tesseract() -> Polytope:
    return Polytope.from_vertices(np.array(list(itertools.product([-1.0, 1.0], repeat=4))))


def hko() -> Polytope:
    """HK-O counterexample: pentagon x pentagon rotated by -90 degrees."""
    return lagrangian_product(PENTAGON, rotate(PENTAGON, -math.pi / 2))


def square_diamond() -> Polytope:
    return lagrangian_product(SQUARE, DIAMOND)


def simplex() -> Polytope:
    return Polytope.from_vertices(np.vstack([np.zeros(4), np.eye(4)]))


def cross_polytope() -> Polytope:
    return Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4)]))


def twenty_four_cell() -> Polytope:
    halves = np.array(list(itertools.product([-0.5, 0.5], repeat=4)))
    return Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4), halves]))


def ch_six_vertex() -> Polytope:
    points = [(0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, -1, 1, 0), (-1, -1, 0, 1)]
    return Polytope.from_vertices(np.array(points, dtype=float))


def triangle_product() -> Polytope:
    return lagrangian_product(TRIANGLE, TRIANGLE)


# name -> (factory, capacity, volume)
REFERENCE = {
    "tesseract": (tesseract, 4.0, 16.0),
    "hko": (hko, HKO_CAPACITY, HKO_VOLUME),
    "square_diamond": (square_diamond, 4.0, 8.0),
    "simplex": (simplex, 0.25, 1.0 / 24.0),
    "ch_six_vertex": (ch_six_vertex, 0.5, 0.125),
    "triangle_product": (triangle_product, 1.5, (3 * math.sqrt(3) / 4) ** 2),
}


def random_polygon(rng: np.random.Generator, m: int) -> np.ndarray:
    """Convex hull of m random points on a perturbed circle (exactly m vertices)."""
    while True:
        angles = np.sort(rng.uniform(0, 2 * np.pi, m))
        radii = rng.uniform(0.6, 1.4, m)
        points = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
        points = points * rng.uniform(0.5, 2.0, 2) + rng.normal(0, 0.3, 2)
        hull = ConvexHull(points)
        if len(hull.vertices) == m and hull.volume > 0.05:
            return points[hull.vertices]


def random_lagrangian_product(rng: np.random.Generator, max_facets: int = 10) -> Polytope:
    m_k = int(rng.integers(3, max_facets - 2))
    m_t = int(rng.integers(3, max_facets - m_k + 1))
    return lagrangian_product(random_polygon(rng, m_k), random_polygon(rng, m_t))


def random_symplectic_product(rng: np.random.Generator, max_facets: int = 8) -> Polytope:
    m_1 = int(rng.integers(3, max_facets - 2))
    m_2 = int(rng.integers(3, max_facets - m_1 + 1))
    return symplectic_product(random_polygon(rng, m_1), random_polygon(rng, m_2))


def random_polytope(rng: np.random.Generator, facets: int) -> Polytope:
    """A random 4D polytope with exactly ``facets`` facets (random tangent halfspaces)."""
    while True:
        normals = rng.standard_normal((facets, 4))
        normals /= np.linalg.norm(normals, axis=1)[:, None]
        try:
            polytope = Polytope.from_halfspaces(normals, rng.uniform(0.8, 1.2, facets))
        except ValueError:
            continue
        if polytope.num_facets == facets:
            return polytope
