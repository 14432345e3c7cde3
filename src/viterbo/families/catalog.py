"""Named landmark polytopes (MATH.md §5 and a few more), as the ``catalog`` family."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from viterbo.families.base import Family, register_family
from viterbo.families.products import regular_polygon
from viterbo.geometry import Polytope, lagrangian_product


def tesseract() -> Polytope:
    """The cube [-1, 1]^4 (= square x square); c = 4, vol = 16."""
    return Polytope.from_vertices(np.array(list(itertools.product([-1.0, 1.0], repeat=4))))


def cross_polytope() -> Polytope:
    """conv{±e_i}; c = 1, vol = 2/3."""
    return Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4)]))


def standard_simplex() -> Polytope:
    """conv{0, e1, e2, e3, e4}; c = 1/4, vol = 1/24."""
    return Polytope.from_vertices(np.vstack([np.zeros(4), np.eye(4)]))


def regular_simplex() -> Polytope:
    """The regular 4-simplex with edge length sqrt(2), centred at 0.

    The points e_1..e_5 of R^5 written in an orthonormal (Helmert) basis of the hyperplane
    x_1 + ... + x_5 = 1 through their centroid.
    """
    basis = np.zeros((4, 5))
    for k in range(1, 5):
        basis[k - 1, :k] = 1.0
        basis[k - 1, k] = -float(k)
        basis[k - 1] /= np.linalg.norm(basis[k - 1])
    return Polytope.from_vertices((np.eye(5) - 0.2) @ basis.T)


def twenty_four_cell() -> Polytope:
    """Vertices ±e_i and (±1/2, ±1/2, ±1/2, ±1/2); c = 2, vol = 2, no Lagrangian 2-face."""
    halves = np.array(list(itertools.product([-0.5, 0.5], repeat=4)))
    return Polytope.from_vertices(np.vstack([np.eye(4), -np.eye(4), halves]))


def twenty_four_cell_roots() -> Polytope:
    """The 24-cell with vertices ±e_i ± e_j (the D4 roots): the other one scaled by 2 and
    rotated; c = 4, 96 symplectic symmetries.  Not in the catalog table (same shape)."""
    vertices = []
    for i, j in itertools.combinations(range(4), 2):
        for a, b in itertools.product([1.0, -1.0], repeat=2):
            vertex = np.zeros(4)
            vertex[i], vertex[j] = a, b
            vertices.append(vertex)
    return Polytope.from_vertices(vertices)


def hko_pentagon_product() -> Polytope:
    """Haim-Kislev–Ostrover: K = pentagon (cos 2πk/5, sin 2πk/5) in q, T = K rotated by -90° in p.

    c = 2 cos(π/10)(1 + cos(π/5)), vol = (5/2 sin(2π/5))^2, sys = (3 + √5)/5 > 1.
    """
    pentagon = regular_polygon(5)
    rotate_minus_90 = np.array([[0.0, 1.0], [-1.0, 0.0]])
    return lagrangian_product(pentagon, pentagon @ rotate_minus_90.T)


def square_x_diamond() -> Polytope:
    """[-1, 1]^2 in q times conv{±e1, ±e2} in p; c = 4, vol = 8, sys = 1."""
    square = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    diamond = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    return lagrangian_product(square, diamond)


def ngon_x_ngon(n: int) -> Polytope:
    """Regular n-gon (cos 2πk/n, sin 2πk/n) in q times the same n-gon in p."""
    polygon = regular_polygon(n)
    return lagrangian_product(polygon, polygon)


def triangle_x_triangle() -> Polytope:
    """Equilateral triangle (on the unit circle) in q times the same triangle in p."""
    return ngon_x_ngon(3)


def ch_six_vertex() -> Polytope:
    """The Chaidez–Hutchings 6-vertex example; c = 1/2, vol = 1/8, sys = 1."""
    return Polytope.from_vertices(
        np.array(
            [
                [0.0, 0.0, 0.0, 0.0],
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
                [0.0, -1.0, 1.0, 0.0],
                [-1.0, -1.0, 0.0, 1.0],
            ]
        )
    )


def permutahedron() -> Polytope:
    """The 4-dimensional permutahedron (120 vertices, 30 facets), centred, edge length √2.

    The permutations of (1, 2, 3, 4, 5) in an orthonormal basis of their hyperplane.
    """
    permutations = np.array(list(itertools.permutations(range(1, 6))), dtype=float)
    basis = np.zeros((4, 5))
    for k in range(1, 5):
        basis[k - 1, :k] = 1.0
        basis[k - 1, k] = -float(k)
        basis[k - 1] /= np.linalg.norm(basis[k - 1])
    return Polytope.from_vertices((permutations - 3.0) @ basis.T)


# name -> (builder taking the validated params, one-line description)
CATALOG: dict[str, tuple[Callable[[dict[str, Any]], Polytope], str]] = {
    "tesseract": (lambda p: tesseract(), "[-1, 1]^4: c = 4, vol = 16"),
    "cross-polytope": (lambda p: cross_polytope(), "conv{±e_i}: c = 1, vol = 2/3"),
    "standard-simplex": (lambda p: standard_simplex(), "conv{0, e_i}: c = 1/4, vol = 1/24"),
    "regular-simplex": (lambda p: regular_simplex(), "regular 4-simplex, edge √2, centred"),
    "24-cell": (lambda p: twenty_four_cell(), "±e_i, (±1/2)^4: c = 2, vol = 2"),
    "hko-pentagon-product": (
        lambda p: hko_pentagon_product(),
        "Haim-Kislev–Ostrover counterexample: sys = (3 + √5)/5",
    ),
    "square-x-diamond": (lambda p: square_x_diamond(), "[-1,1]^2 x diamond: c = 4, vol = 8"),
    "ngon-x-ngon": (lambda p: ngon_x_ngon(p["n"]), "regular n-gon x the same n-gon (param n)"),
    "triangle-x-triangle": (lambda p: triangle_x_triangle(), "equilateral triangle x itself"),
    "ch-6-vertex": (lambda p: ch_six_vertex(), "Chaidez–Hutchings example: c = 1/2, vol = 1/8"),
    "permutahedron": (lambda p: permutahedron(), "4-permutahedron: 120 vertices, 30 facets"),
}


def _catalog(params: dict[str, Any], rng: np.random.Generator) -> tuple[Polytope, dict[str, Any]]:
    build, _ = CATALOG[params["name"]]
    return build(params), {"name": params["name"]}


register_family(
    Family(
        name="catalog",
        description=(
            "Named landmark polytopes in R^4 (exact constructions; the index does not matter): "
            + "; ".join(f"`{name}` ({text})" for name, (_, text) in CATALOG.items())
            + "."
        ),
        dimension=4,
        params_schema={
            "name": {"type": "string", "enum": list(CATALOG), "description": "which landmark"},
            "n": {
                "type": "integer",
                "minimum": 3,
                "maximum": 64,
                "default": 5,
                "description": "sides of the polygons (ngon-x-ngon only)",
            },
        },
        generate=_catalog,
        deterministic=True,
        max_attempts=1,
    )
)
