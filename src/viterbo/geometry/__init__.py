"""Convex polytopes: the canonical :class:`Polytope`, symplectic linear algebra, products, volume.

Coordinates on R^2n are ``(q, p)``; in R^4 ``(q1, q2, p1, p2)`` (MATH.md §1).
"""

from viterbo.geometry.errors import (
    DegeneratePolytopeError,
    EmptyPolytopeError,
    GeometryError,
    InvalidInputError,
    UnboundedPolytopeError,
)
from viterbo.geometry.polytope import Polytope
from viterbo.geometry.products import (
    as_lagrangian_product,
    as_symplectic_product,
    is_lagrangian_product,
    is_symplectic_product,
    lagrangian_product,
    symplectic_product,
)
from viterbo.geometry.symplectic import (
    J,
    block_rotation,
    cotangent_lift,
    is_symplectic,
    omega,
    random_symplectic_matrix,
    shear,
)

__all__ = [
    "DegeneratePolytopeError",
    "EmptyPolytopeError",
    "GeometryError",
    "InvalidInputError",
    "J",
    "Polytope",
    "UnboundedPolytopeError",
    "as_lagrangian_product",
    "as_symplectic_product",
    "block_rotation",
    "cotangent_lift",
    "is_lagrangian_product",
    "is_symplectic",
    "is_symplectic_product",
    "lagrangian_product",
    "omega",
    "random_symplectic_matrix",
    "shear",
    "symplectic_product",
]
