"""Certificates: check that a loop is a closed characteristic of the claimed action (MATH.md §4).

A loop passing :func:`verify_loop` is a generalised closed characteristic on the boundary of
the polytope, so it proves ``c_EHZ <= value``. Every capacity algorithm runs its loop through
this check before it reports a value; a failed check raises, it is never a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import nnls

from viterbo.invariants.loops import loop_action, reeb_directions

if TYPE_CHECKING:
    from viterbo.geometry import Polytope


class LoopVerificationError(ValueError):
    """A loop failed one of the certificate checks (the message names the check)."""


def _as_loop_array(loop: Any, dim: int) -> np.ndarray:
    try:
        points = np.asarray(loop, dtype=float)
    except (TypeError, ValueError) as exc:
        raise LoopVerificationError(f"loop is not a numeric array: {exc}") from None
    if points.ndim != 2 or points.shape[1] != dim:
        raise LoopVerificationError(f"loop must have shape (m + 1, {dim}), got {points.shape}")
    if points.shape[0] < 3:
        raise LoopVerificationError("loop needs at least two segments (m + 1 >= 3 rows)")
    if not np.all(np.isfinite(points)):
        raise LoopVerificationError("loop has NaN or infinite coordinates")
    return points


def _segment_residual(displacement: np.ndarray, directions: np.ndarray) -> tuple[float, np.ndarray]:
    """Distance from ``displacement`` to the cone spanned by the rows of ``directions``."""
    if directions.shape[0] == 1:
        # One facet: the best non-negative multiple has a closed form.
        direction = directions[0]
        weight = max(0.0, float(displacement @ direction) / float(direction @ direction))
        return float(np.linalg.norm(displacement - weight * direction)), np.array([weight])
    weights, residual = nnls(directions.T, displacement)
    return float(residual), weights


def verify_loop(
    polytope: Polytope, loop: Any, value: float, *, rtol: float = 1e-9
) -> dict[str, Any]:
    """Check that ``loop`` is a closed characteristic on ``∂polytope`` with action ``value``.

    Checks, in order (each failure raises :class:`LoopVerificationError` naming it):

    1. the loop closes (``loop[-1] == loop[0]`` within tolerance);
    2. every loop vertex satisfies every facet inequality;
    3. every segment of positive length has both endpoints on some facet, and its
       displacement is a non-negative combination of the Reeb directions ``J n_i`` of the
       facets containing both endpoints (one facet: a non-negative multiple; a lower face:
       a tiny NNLS);
    4. the action ``½ Σ omega(v_k, v_{k+1})`` equals ``value`` to relative ``rtol``.

    Positions are compared with ``polytope.tolerance(rtol)`` (relative to the diameter), so
    the check is translation-invariant and works for polytopes not containing the origin.

    Parameters
    ----------
    polytope : Polytope
        The polytope (dimension ``2n``).
    loop : array_like
        ``(m + 1, 2n)`` vertices, explicitly closed (last row = first row).
    value : float
        The claimed action (capacity value).
    rtol : float
        Relative tolerance.

    Returns
    -------
    dict
        Diagnostics: ``segments``, ``closure_error``, ``max_facet_violation``,
        ``max_reeb_residual``, ``lower_face_segments``, ``action``, ``relative_action_error``.
    """
    normals = np.asarray(polytope.normals, dtype=float)
    offsets = np.asarray(polytope.offsets, dtype=float)
    dim = normals.shape[1]
    if dim % 2:
        raise LoopVerificationError(f"loops live in even dimension, polytope has {dim}")
    points = _as_loop_array(loop, dim)
    tol = float(polytope.tolerance(rtol))

    closure_error = float(np.linalg.norm(points[-1] - points[0]))
    if closure_error > tol:
        raise LoopVerificationError(f"loop does not close (gap {closure_error:.3g} > {tol:.3g})")

    slack = points @ normals.T - offsets  # (m + 1, F), <= 0 inside
    max_violation = float(np.max(slack))
    if max_violation > tol:
        k, i = np.unravel_index(int(np.argmax(slack)), slack.shape)
        raise LoopVerificationError(
            f"loop vertex {k} violates facet {i} by {max_violation:.3g} (tolerance {tol:.3g})"
        )

    on_facet = np.abs(slack) <= tol
    directions = reeb_directions(normals)
    max_residual = 0.0
    lower_face_segments = 0
    segments = 0
    for k in range(points.shape[0] - 1):
        displacement = points[k + 1] - points[k]
        if np.linalg.norm(displacement) <= tol:
            continue  # a zero-length segment carries no velocity
        segments += 1
        facets = np.flatnonzero(on_facet[k] & on_facet[k + 1])
        if facets.size == 0:
            raise LoopVerificationError(f"segment {k} does not lie on any facet")
        residual, _ = _segment_residual(displacement, directions[facets])
        if residual > tol:
            raise LoopVerificationError(
                f"segment {k} (on facets {facets.tolist()}) does not move along their Reeb "
                f"directions (residual {residual:.3g} > {tol:.3g})"
            )
        lower_face_segments += int(facets.size > 1)
        max_residual = max(max_residual, residual)
    if segments < 2:
        raise LoopVerificationError("loop has fewer than two segments of positive length")

    action = loop_action(points)
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise LoopVerificationError(f"claimed value must be positive and finite, got {value}")
    relative_error = abs(action - value) / value
    if relative_error > rtol:
        raise LoopVerificationError(
            f"loop action {action:.15g} differs from the value {value:.15g} "
            f"(relative {relative_error:.3g} > {rtol:.3g})"
        )
    return {
        "segments": segments,
        "closure_error": closure_error,
        "max_facet_violation": max_violation,
        "max_reeb_residual": max_residual,
        "lower_face_segments": lower_face_segments,
        "action": action,
        "relative_action_error": relative_error,
    }
