"""Verification of a search's optimum before it is reported.

An optimum is reported only with:

* its certificate level at the point (``confirmed`` needs two independent exact methods);
* the systolic ratio of its image under a random linear symplectic map, which must agree
  (relative ``IMAGE_RTOL``): the image has other facet normals and other rounding, so a value
  that only one coordinate accident produced does not survive it. (A symplectic map keeps
  Lagrangian 2-faces Lagrangian, so the image of a Lagrangian product is no product, reeb
  still does not apply, and only haim-kislev remains: the image is ``single``, trusted
  because no second exact method applies);
* above :data:`HKO_RATIO`, a high-precision re-verification (mpmath,
  :mod:`viterbo.search.high_precision`) of Haim-Kislev's stationary point and of the volume.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from viterbo.geometry import random_symplectic_matrix
from viterbo.invariants.evaluate import Policy, evaluate
from viterbo.search.objective import CONFIRMED, Evaluation, evaluate_point, trust
from viterbo.search.spaces import SearchSpace, polytope_of

HKO_RATIO = 1.0472135955  # the threshold: (3 + sqrt 5)/5 = 1.04721359549996 rounded up
HKO_EXACT = (3 + 5**0.5) / 5
# A claim "above HK-O" needs the high-precision ratio above HK-O by more than the float
# pipeline's own error (measured: climbs converged onto HK-O report floats up to 1e-11 above it).
ABOVE_HKO_RTOL = 1e-9
IMAGE_RTOL = 1e-8


def verify_optimum(
    space: SearchSpace, x: np.ndarray, seed: int, policy: Policy | None = None
) -> dict[str, Any]:
    """Everything :mod:`viterbo.search.verify` checks about the point ``x`` (JSON-able).

    ``verified`` is true only when the point is ``confirmed``, its symplectic image agrees
    and is trusted, and (above HK-O) the high-precision check passed.
    """
    policy = policy or Policy(spectrum=False)
    point = evaluate_point(space, x, policy, with_gradient=False)
    report: dict[str, Any] = {"point": point.summary(), "verified": False, "loop": point.loop}
    if point.record is not None:
        report["capacities"] = {
            key.partition("/")[2]: {"status": o.status, "value": o.value, "reason": o.reason}
            for key, o in sorted(point.record.outcomes.items())
            if key.startswith("capacity/")
        }
    if point.ratio is None:
        report["reason"] = point.reason
        return report
    polytope = polytope_of(space, x)
    matrix = random_symplectic_matrix(np.random.default_rng(seed))
    image_record = evaluate(polytope.linear_image(matrix), policy)
    image = image_record.headline()
    image_trusted, image_reason = trust(image_record)
    difference = (
        abs(image["systolic_ratio"] - point.ratio) / point.ratio
        if image["systolic_ratio"] is not None
        else None
    )
    report["symplectic_image"] = {
        "ratio": image["systolic_ratio"],
        "level": image["capacity_certificate"],
        "agreeing": image["capacity_agreeing"],
        "trusted": image_trusted,
        "reason": image_reason,
        "relative_difference": difference,
    }
    reasons = []
    if point.level != CONFIRMED:
        reasons.append(f"the point is {point.level}, not confirmed")
    if not image_trusted:
        reasons.append(f"its symplectic image is not trusted ({image_reason})")
    elif difference is None or difference > IMAGE_RTOL:
        reasons.append(f"its symplectic image differs by {difference:.1e}")
    report["above_hko"] = False
    if point.ratio > HKO_RATIO:
        check = _high_precision(point, polytope)
        report["high_precision"] = check
        if not check.get("ok"):
            reasons.append(f"the high-precision check failed ({check.get('reason')})")
        else:
            report["above_hko"] = float(check["ratio"]) > HKO_EXACT * (1 + ABOVE_HKO_RTOL)
    report["verified"] = not reasons
    report["reason"] = "; ".join(reasons) or None
    return report


def _high_precision(point: Evaluation, polytope: Any) -> dict[str, Any]:
    # Lazy: mpmath is only needed for a candidate above HK-O.
    from viterbo.search.high_precision import verify_ratio

    outcome = point.record.outcomes.get("capacity/haim-kislev") if point.record else None
    if outcome is None or outcome.status != "done" or not outcome.result:
        return {"ok": False, "reason": "haim-kislev gave no maximiser to re-verify"}
    result = outcome.result
    check = verify_ratio(polytope, result["sigma"], np.asarray(result["loop"])[0])
    return check.to_dict()
