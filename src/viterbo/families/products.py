"""Polygons and products of polygons: ``polygon``, ``lagrangian-product``,
``symplectic-product`` and ``product-ngons``.

A Lagrangian product ``K x T`` has ``K`` in the (q1, q2)-plane and ``T`` in the (p1, p2)-plane;
a symplectic product ``P1 x P2`` has ``P1`` in (q1, p1) and ``P2`` in (q2, p2) (MATH.md §1).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from viterbo.families.base import Family, FamilyParamsError, register_family
from viterbo.geometry import Polytope, lagrangian_product, symplectic_product


def random_polygon(rng: np.random.Generator, points: int) -> Polytope:
    """Convex hull of ``points`` points uniform in the unit disk."""
    angles = rng.uniform(0.0, 2.0 * np.pi, points)
    radii = np.sqrt(rng.uniform(0.0, 1.0, points))
    return Polytope.from_vertices(np.c_[radii * np.cos(angles), radii * np.sin(angles)])


def regular_polygon(sides: int, rotation: float = 0.0) -> np.ndarray:
    """Vertices ``(cos(rotation + 2 pi k / sides), sin(...))``, k = 0..sides-1 (counter-clockwise)."""
    angles = rotation + 2.0 * np.pi * np.arange(sides) / sides
    return np.c_[np.cos(angles), np.sin(angles)]


def product_ngon_angles(k_P: int, k_Q: int, max_denominator: int) -> list[tuple[int, int]]:
    """The distinct relative rotations ``2 pi r / s`` of a regular k_Q-gon against a k_P-gon.

    Rotating the k_P-gon by ``2 pi / k_P`` or the k_Q-gon by ``2 pi / k_Q``, rotating both
    together, or reflecting both (all symplectic: cotangent lifts of orthogonal maps) leaves
    the product unchanged up to symplectomorphism, so only the relative rotation modulo
    ``2 pi / lcm(k_P, k_Q)`` and up to sign matters: the angles in ``[0, pi / lcm]``.

    Parameters
    ----------
    k_P, k_Q : int
        Numbers of sides (>= 3).
    max_denominator : int
        Largest ``s`` to enumerate (>= 1).

    Returns
    -------
    list of (r, s)
        Reduced fractions with ``0 <= r / s <= 1 / (2 lcm)``, sorted by angle; ``(0, 1)``
        first. With ``k_P = k_Q = 5`` and ``max_denominator >= 20`` it contains ``(1, 20)``,
        the Haim-Kislev–Ostrover counterexample (relative rotation pi / 10).
    """
    for name, value in (("k_P", k_P), ("k_Q", k_Q)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 3:
            raise FamilyParamsError(f"{name} must be an integer >= 3, got {value!r}")
    if (
        isinstance(max_denominator, bool)
        or not isinstance(max_denominator, int)
        or max_denominator < 1
    ):
        raise FamilyParamsError(f"max_denominator must be an integer >= 1, got {max_denominator!r}")
    limit = Fraction(1, 2 * math.lcm(k_P, k_Q))
    angles = {
        Fraction(r, s)
        for s in range(1, max_denominator + 1)
        for r in range(0, s + 1)
        if Fraction(r, s) <= limit
    }
    return [(f.numerator, f.denominator) for f in sorted(angles)]


def canonical_relative_rotation(k_P: int, k_Q: int, turns: Fraction) -> Fraction:
    """The relative rotation (in turns) reduced to ``[0, 1 / (2 lcm)]`` (see product_ngon_angles)."""
    period = Fraction(1, math.lcm(k_P, k_Q))
    reduced = turns % period
    return min(reduced, period - reduced)


def _polygon(params: dict[str, Any], rng: np.random.Generator) -> tuple[Polytope, dict[str, Any]]:
    return random_polygon(rng, params["points"]), {}


def _lagrangian(
    params: dict[str, Any], rng: np.random.Generator
) -> tuple[Polytope, dict[str, Any]]:
    k = random_polygon(rng, params["points"])
    t = random_polygon(rng, params["points"])
    return lagrangian_product(k, t), {"vertices_K": k.num_vertices, "vertices_T": t.num_vertices}


def _symplectic(
    params: dict[str, Any], rng: np.random.Generator
) -> tuple[Polytope, dict[str, Any]]:
    p1 = random_polygon(rng, params["points"])
    p2 = random_polygon(rng, params["points"])
    return symplectic_product(p1, p2), {
        "vertices_P1": p1.num_vertices,
        "vertices_P2": p2.num_vertices,
    }


def _product_ngons(
    params: dict[str, Any], rng: np.random.Generator
) -> tuple[Polytope, dict[str, Any]]:
    k_p, k_q, r, s = params["k_P"], params["k_Q"], params["r"], params["s"]
    turns = Fraction(r, s)
    k = regular_polygon(k_p)
    t = regular_polygon(k_q, 2.0 * np.pi * r / s)
    canonical = canonical_relative_rotation(k_p, k_q, turns)
    metadata = {
        "relative_rotation": 2.0 * math.pi * r / s,
        "canonical_rotation_turns": [canonical.numerator, canonical.denominator],
    }
    return lagrangian_product(k, t), metadata


_POINTS = {
    "type": "integer",
    "minimum": 3,
    "maximum": 1000,
    "default": 6,
    "description": "points drawn uniformly in the unit disk per polygon (its hull is the polygon)",
}

register_family(
    Family(
        name="polygon",
        description="Random convex polygon in R^2: the hull of m points uniform in the unit disk.",
        dimension=2,
        params_schema={"points": _POINTS},
        generate=_polygon,
    )
)

register_family(
    Family(
        name="lagrangian-product",
        description=(
            "Lagrangian product K x T of two random polygons (hulls of m points uniform in the "
            "unit disk), K in the (q1, q2)-plane and T in the (p1, p2)-plane."
        ),
        dimension=4,
        params_schema={"points": _POINTS},
        generate=_lagrangian,
    )
)

register_family(
    Family(
        name="symplectic-product",
        description=(
            "Symplectic product P1 x P2 of two random polygons (hulls of m points uniform in the "
            "unit disk), P1 in the (q1, p1)-plane and P2 in the (q2, p2)-plane."
        ),
        dimension=4,
        params_schema={"points": _POINTS},
        generate=_symplectic,
    )
)

register_family(
    Family(
        name="product-ngons",
        description=(
            "Lagrangian product of the regular k_P-gon with vertices (cos 2πj/k_P, sin 2πj/k_P) "
            "in q and the regular k_Q-gon rotated by 2π·r/s in p (exact H-representation, "
            "k_P + k_Q facets). k_P = k_Q = 5, r/s = 1/20 is the Haim-Kislev–Ostrover "
            "counterexample (up to a reflection, a symplectic relabelling). Enumerate distinct "
            "rotations with product_ngon_angles()."
        ),
        dimension=4,
        params_schema={
            "k_P": {
                "type": "integer",
                "minimum": 3,
                "maximum": 64,
                "default": 5,
                "description": "sides of the q-polygon",
            },
            "k_Q": {
                "type": "integer",
                "minimum": 3,
                "maximum": 64,
                "default": 5,
                "description": "sides of the p-polygon",
            },
            "r": {
                "type": "integer",
                "minimum": 0,
                "maximum": 10_000,
                "default": 0,
                "description": "rotation numerator: angle 2π·r/s",
            },
            "s": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10_000,
                "default": 1,
                "description": "rotation denominator",
            },
        },
        generate=_product_ngons,
        deterministic=True,
        max_attempts=1,
    )
)
