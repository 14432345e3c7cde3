"""The quantity ``volume``: two independent algorithms, registered for the atlas.

* ``qhull`` -- Qhull's hull volume from the vertices;
* ``cone-decomposition`` -- iterated cone decomposition of the H-representation (shoelace on
  the 2-faces), independent of Qhull's triangulation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from viterbo.geometry import Polytope
from viterbo.geometry.volume import volume_cone_decomposition, volume_qhull
from viterbo.invariants.registry import Algorithm, Inputs, Result, register


def _always_applicable(polytope: Polytope) -> str | None:
    return None


def _wrap(method: Callable[[Polytope], float]) -> Callable[..., Result]:
    def compute(
        polytope: Polytope,
        *,
        time_budget: float | None = None,
        inputs: Inputs | None = None,
        **params: Any,
    ) -> Result:
        start = time.perf_counter()
        value = method(polytope)
        return {
            "value": float(value),
            "loop": None,
            "seconds": time.perf_counter() - start,
            "diagnostics": {},
        }

    compute.__doc__ = f"Volume by ``{method.__name__}``; see :mod:`viterbo.geometry.volume`."
    return compute


QHULL = register(
    Algorithm(
        quantity="volume",
        name="qhull",
        compute=_wrap(volume_qhull),
        applicability=_always_applicable,
        exact=True,
        description="Qhull's volume of the convex hull of the vertices.",
    )
)

CONE_DECOMPOSITION = register(
    Algorithm(
        quantity="volume",
        name="cone-decomposition",
        compute=_wrap(volume_cone_decomposition),
        applicability=_always_applicable,
        exact=True,
        description=(
            "Iterated cone decomposition of the H-representation over the face lattice "
            "(facets -> 2-faces, shoelace); independent of Qhull."
        ),
    )
)
