"""EHZ capacity of a convex polygon: its area (algorithm ``area-2d``).

In R^2 the boundary is the only closed characteristic; traversed counter-clockwise it moves
along ``J n_i`` on every edge and its action is the area (MATH.md §1).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from viterbo.geometry.volume import polygon_area
from viterbo.invariants.certificate import verify_loop
from viterbo.invariants.loops import close_loop, loop_to_list
from viterbo.invariants.registry import Algorithm, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope


def applicability(polytope: Polytope) -> str | None:
    """``area-2d`` applies to polygons only."""
    if polytope.dim != 2:
        return f"area-2d needs a polygon (dimension 2), got dimension {polytope.dim}"
    return None


def compute(
    polytope: Polytope, *, time_budget: float | None = None, inputs: Any = None, rtol: float = 1e-9
) -> dict[str, Any]:
    """Capacity of a polygon = its area; the loop is the counter-clockwise boundary.

    Parameters
    ----------
    polytope : Polytope
        A polygon (dimension 2); its vertices are in counter-clockwise order.
    time_budget, inputs : ignored
        Part of the registry signature (the computation is O(m)).
    rtol : float
        Relative tolerance of the loop certificate.

    Returns
    -------
    dict
        ``value``, ``loop``, ``seconds``, ``diagnostics``.
    """
    del time_budget, inputs
    reason = applicability(polytope)
    if reason is not None:
        raise ValueError(reason)
    started = time.perf_counter()
    vertices = np.asarray(polytope.vertices, dtype=float)
    area = float(polygon_area(vertices))
    loop = close_loop(vertices)
    certificate = verify_loop(polytope, loop, area, rtol=rtol)
    return {
        "value": area,
        "loop": loop_to_list(loop),
        "seconds": time.perf_counter() - started,
        "diagnostics": {"edges": int(polytope.num_facets), "certificate": certificate},
    }


register(
    Algorithm(
        quantity="capacity",
        name="area-2d",
        method="polygon-area",
        compute=compute,
        applicability=applicability,
        exact=True,
        description="polygons: the capacity is the area, the loop the boundary",
    )
)
