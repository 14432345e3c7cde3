"""EHZ capacity of a symplectic product P1 x P2 of polygons (algorithm ``symplectic-product``).

For P1 in the (q1, p1)-plane and P2 in the (q2, p2)-plane, c(P1 x P2) = min(area P1, area P2)
(MATH.md §3, §5). A minimal loop is the counter-clockwise boundary of the smaller factor times
a fixed interior point of the other factor.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from viterbo.geometry.products import as_symplectic_product, is_symplectic_product
from viterbo.geometry.volume import polygon_area
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.loops import close_loop, loop_to_list
from viterbo.invariants.registry import Algorithm, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

# Coordinates of the factors inside (q1, q2, p1, p2).
_FIRST = [0, 2]  # (q1, p1)
_SECOND = [1, 3]  # (q2, p2)


def applicability(polytope: Polytope) -> str | None:
    """Applies to 4D symplectic products of polygons (every normal in one factor plane)."""
    if polytope.dim != 4:
        return f"symplectic-product needs dimension 4, got {polytope.dim}"
    if not is_symplectic_product(polytope):  # normals only, no factors built
        return "not a symplectic product P1 x P2 ((q1,p1) x (q2,p2))"
    return None


def compute(
    polytope: Polytope, *, time_budget: float | None = None, inputs: Any = None, rtol: float = 1e-9
) -> dict[str, Any]:
    """Capacity ``min(area P1, area P2)`` of a symplectic product, with its loop.

    Parameters
    ----------
    polytope : Polytope
        A symplectic product ``P1 x P2`` (see :func:`applicability`).
    time_budget, inputs : ignored
        Part of the registry signature.
    rtol : float
        Relative tolerance of the loop certificate.

    Returns
    -------
    dict
        ``value``, ``loop``, ``seconds``, ``areas`` (of P1, P2), ``diagnostics``.
    """
    del time_budget, inputs
    started = time.perf_counter()
    factors = as_symplectic_product(polytope)
    if factors is None:
        raise ValueError("not a symplectic product P1 x P2 ((q1,p1) x (q2,p2))")
    areas = [float(polygon_area(np.asarray(f.vertices, dtype=float))) for f in factors]
    smaller = int(np.argmin(areas))
    small, other = factors[smaller], factors[1 - smaller]
    small_coords, other_coords = (_FIRST, _SECOND) if smaller == 0 else (_SECOND, _FIRST)
    boundary = close_loop(np.asarray(small.vertices, dtype=float))  # counter-clockwise
    loop = np.zeros((boundary.shape[0], 4))
    loop[:, small_coords] = boundary
    loop[:, other_coords] = np.asarray(other.vertices, dtype=float).mean(axis=0)  # interior
    value = areas[smaller]
    certificate = verify_loop(polytope, loop, value, rtol=rtol)
    return {
        "value": value,
        "loop": loop_to_list(loop),
        "seconds": time.perf_counter() - started,
        "areas": areas,
        "diagnostics": {"smaller_factor": smaller + 1, "certificate": certificate},
    }


register(
    Algorithm(
        quantity="capacity",
        name="symplectic-product",
        method="product-formula",
        compute=compute,
        applicability=applicability,
        exact=True,
        description="symplectic products P1 x P2: min(area P1, area P2)",
    )
)
