"""The systolic ratio (quantity ``systolic_ratio``, algorithm ``formula``).

sys(K) = c(K)^n / (n! vol(K)) in R^2n (MATH.md §1): c² / (2 vol) in R^4; 1 for the ball.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from viterbo.invariants.applicability import even_dimension
from viterbo.invariants.registry import Algorithm, Inputs, register

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

PREFERRED_VOLUME = "volume/qhull"

# The Haim-Kislev--Ostrover pentagon product's ratio (3 + sqrt 5) / 5 = 1.0472135955: the largest
# known.  A claim above it needs a ``confirmed`` capacity (MATH.md §4).
HKO_SYSTOLIC_RATIO = (3 + math.sqrt(5)) / 5


class SystolicRatioError(ValueError):
    """A needed input (certified capacity or volume) is missing."""


def systolic_ratio(capacity: float, volume: float, dim: int) -> float:
    """``capacity^n / (n! volume)`` for dimension ``dim = 2n``.

    Parameters
    ----------
    capacity : float
        EHZ capacity (> 0).
    volume : float
        Volume (> 0).
    dim : int
        Even dimension ``2n``.
    """
    if dim < 2 or dim % 2:
        raise SystolicRatioError(f"the systolic ratio needs an even dimension, got {dim}")
    if not capacity > 0 or not volume > 0:
        raise SystolicRatioError(f"capacity and volume must be positive, got {capacity}, {volume}")
    n = dim // 2
    return capacity**n / (math.factorial(n) * volume)


def _done_value(inputs: Inputs, key: str) -> float | None:
    entry = inputs.get(key)
    if entry and entry.get("status") == "done" and entry.get("result") is not None:
        return float(entry["result"]["value"])
    return None


def applicability(polytope: Polytope) -> str | None:
    """Applies in even dimension."""
    return even_dimension(polytope, "the systolic ratio")


def compute(
    polytope: Polytope,
    *,
    time_budget: float | None = None,
    inputs: Inputs | None = None,
) -> dict[str, Any]:
    """Registry entry: c^n / (n! vol) from ``certified_capacity/certify`` and a volume.

    The volume is ``volume/qhull`` when done, otherwise any other finished volume algorithm.
    """
    del time_budget
    started = time.perf_counter()
    inputs = inputs or {}
    capacity = _done_value(inputs, "certified_capacity/certify")
    if capacity is None:
        raise SystolicRatioError("no certified capacity among the inputs")
    volume_keys = [PREFERRED_VOLUME, *sorted(k for k in inputs if k.startswith("volume/"))]
    for key in volume_keys:
        volume = _done_value(inputs, key)
        if volume is not None:
            break
    else:
        raise SystolicRatioError("no finished volume among the inputs")
    value = systolic_ratio(capacity, volume, polytope.dim)
    return {
        "value": value,
        "loop": None,
        "seconds": time.perf_counter() - started,
        "diagnostics": {"capacity": capacity, "volume": volume, "volume_algorithm": key},
    }


register(
    Algorithm(
        quantity="systolic_ratio",
        name="formula",
        compute=compute,
        applicability=applicability,
        exact=True,
        depends_on=("certified_capacity", "volume"),
        description="c^n / (n! vol) from the certified capacity and the volume",
    )
)
