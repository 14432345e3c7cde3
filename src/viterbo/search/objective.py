"""The search's objective: the certified systolic ratio and its gradient.

Every value the optimiser sees comes from :func:`viterbo.invariants.evaluate.evaluate` --
the one evaluation path, all applicable exact capacity algorithms, the certificate level --
and is *trusted* only at the strongest level available: ``confirmed`` when two independent
exact methods apply, ``single`` only when no second exact method applies at all (never when
one failed or ran out of time). A disagreement between exact algorithms is never climbed
into: it stops the search and is reported.

Gradient (R^4, ``K = {<n_i, x> <= h_i}``). With the certified minimal loop ``γ`` of action
``c`` the capacity's first variation is the Hamiltonian one: a segment of ``γ`` on the face
where the facets ``A`` meet moves with velocity ``sum_{i in A} 2 β_i^s c / τ_s J n_i``
(non-negative weights ``β^s`` read off its displacement ``2 c sum β_i^s J n_i``), and

* ``∂c/∂h_i = 2 c β_i`` with ``β_i = sum_s β_i^s`` (Haim-Kislev's weights, ``sum β_i h_i = 1``);
* ``∂c/∂n_i = -2 c sum_s β_i^s x̄_s`` with ``x̄_s`` the segment's midpoint (moving the plane
  ``<n_i, x> = h_i`` by ``δn`` shifts it by ``-<δn, x>`` at ``x``, and ``γ`` runs at constant
  speed along each segment).

The volume's are ``∂vol/∂h_i = vol_3(F_i)`` and ``∂vol/∂n_i = -vol_3(F_i) centroid(F_i)``, so
``∂ log sys/∂h_i = 4 β_i - vol_3(F_i)/vol`` (sys = c²/(2 vol)) and
``∂ log sys/∂n_i = -4 sum_s β_i^s x̄_s + vol_3(F_i) centroid(F_i)/vol``. These hold where the
minimal loop is unique; elsewhere they are the gradient of the branch of one minimal loop
(the climb copes, see :mod:`viterbo.search.climb`). The tests check them against finite
differences.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from viterbo.geometry import J, Polytope
from viterbo.geometry.volume import facet_measures
from viterbo.invariants.evaluate import Policy, Record, evaluate
from viterbo.search.spaces import SearchSpace, SearchSpaceError, polytope_of

CONFIRMED, SINGLE, DISAGREEMENT = "confirmed", "single", "disagreement"
# Statuses of a capacity algorithm that do not make a `single` value weaker than available.
_ABSENT_BY_NATURE = {"not_applicable", "inexact"}
# Matching a canonical facet to the parameter halfspace it came from.
_NORMAL_MATCH = 1e-9


@dataclass(frozen=True)
class Evaluation:
    """One certified evaluation of a point of a search space."""

    ratio: float | None
    capacity: float | None
    volume: float | None
    level: str | None
    trusted: bool
    reason: str | None
    num_facets: int
    gradient: np.ndarray | None = None  # of log sys with respect to the space's parameters
    loop: list[list[float]] | None = None
    agreeing: list[str] = field(default_factory=list)
    record: Record | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able values (no record, no gradient)."""
        return {
            "ratio": self.ratio,
            "capacity": self.capacity,
            "volume": self.volume,
            "level": self.level,
            "trusted": self.trusted,
            "reason": self.reason,
            "num_facets": self.num_facets,
            "agreeing": list(self.agreeing),
        }


def trust(record: Record) -> tuple[bool, str | None]:
    """Whether the record's capacity is at the strongest level available, and why not."""
    top = record.headline()
    level = top["capacity_certificate"]
    if top["capacity"] is None or top["systolic_ratio"] is None:
        outcome = record.outcomes.get("certified_capacity/certify")
        return False, f"no certified capacity ({outcome.reason if outcome else 'not computed'})"
    if level == CONFIRMED:
        return True, None
    if level == DISAGREEMENT:
        return False, "exact algorithms disagree"
    certified = record.outcomes["certified_capacity/certify"].result or {}
    weaker = [o for o in certified.get("others", []) if o.get("status") not in _ABSENT_BY_NATURE]
    if weaker:
        names = ", ".join(f"{o['algorithm']} {o['status']}" for o in weaker)
        return False, f"single, while a second exact algorithm applies ({names})"
    return True, None


def evaluate_point(
    space: SearchSpace,
    x: np.ndarray,
    policy: Policy | None = None,
    *,
    with_gradient: bool = True,
) -> Evaluation:
    """Certify the systolic ratio at ``x`` and, when trusted, its gradient in ``x``.

    Never raises for a bad point: a parameter vector that gives no polytope, or a polytope
    whose capacity cannot be trusted, comes back untrusted with the reason.
    """
    try:
        polytope = polytope_of(space, x)
    except SearchSpaceError as exc:
        return Evaluation(None, None, None, None, False, str(exc), 0)
    if polytope.num_facets != space.num_facets:
        # The space has a fixed facet count: a climb that lets a facet vanish ends on a
        # polytope of a smaller space (pentagon products degenerate to 4-gon x 3-gon ones).
        reason = f"{polytope.num_facets} of the space's {space.num_facets} facets remain"
        return Evaluation(None, None, None, None, False, reason, polytope.num_facets)
    record = evaluate(polytope, policy or Policy(spectrum=False))
    top = record.headline()
    trusted, reason = trust(record)
    gradient = None
    if trusted and with_gradient and top["minimal_action_cycle"]:
        d_normals, d_offsets = log_ratio_gradient(
            polytope, top["capacity"], top["volume"], np.asarray(top["minimal_action_cycle"])
        )
        raw_normals, _ = space.halfspaces(np.asarray(x, dtype=float))
        gradient = space.pullback(
            x, *_to_parameter_facets(polytope, raw_normals, d_normals, d_offsets)
        )
        if not np.all(np.isfinite(gradient)):
            # Degenerate faces (a vanishing edge): no derivative to steer by at this point.
            gradient, trusted, reason = None, False, "the gradient is not finite here"
    return Evaluation(
        ratio=top["systolic_ratio"],
        capacity=top["capacity"],
        volume=top["volume"],
        level=top["capacity_certificate"],
        trusted=trusted,
        reason=reason,
        num_facets=polytope.num_facets,
        gradient=gradient,
        loop=top["minimal_action_cycle"],
        agreeing=list(top["capacity_agreeing"] or []),
        record=record,
    )


def segment_weights(polytope: Polytope, capacity: float, loop: np.ndarray) -> np.ndarray:
    """Haim-Kislev's weights ``β^s_i`` of each segment ``s`` of a closed characteristic.

    A segment on the face of the facets ``A`` (both end points on them) has displacement
    ``2 c sum_{i in A} β_i^s J n_i`` with ``β^s >= 0`` (non-negative least squares, exact
    when the loop is a verified characteristic). Returns an ``(segments, facets)`` array.
    """
    normals, offsets = polytope.normals, polytope.offsets
    tol = 1e-7 * max(1.0, float(np.max(np.abs(offsets))))
    j = J(2)
    weights = np.zeros((len(loop) - 1, len(normals)))
    for s, (start, end) in enumerate(itertools.pairwise(loop)):
        step = end - start
        if np.linalg.norm(step) <= tol:
            continue  # a repeated point (corner of the loop)
        on = np.flatnonzero(
            (np.abs(normals @ start - offsets) <= tol) & (np.abs(normals @ end - offsets) <= tol)
        )
        if len(on) == 0:
            raise SearchSpaceError("a loop segment lies on no facet")
        directions = (j @ normals[on].T) * 2.0 * capacity
        beta, _ = nnls(directions, step)
        weights[s, on] = beta
    return weights


def log_ratio_gradient(
    polytope: Polytope, capacity: float, volume: float, loop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(∂ log sys/∂n_i, ∂ log sys/∂h_i)`` on the facets of ``polytope`` (module docstring)."""
    loop = np.asarray(loop, dtype=float)
    if len(loop) < 2 or not np.allclose(loop[0], loop[-1]):
        loop = np.vstack([loop, loop[:1]])
    weights = segment_weights(polytope, capacity, loop)
    midpoints = 0.5 * (loop[:-1] + loop[1:])
    facet_volumes, centroids = facet_measures(polytope)
    d_offsets = 4.0 * weights.sum(axis=0) - facet_volumes / volume
    d_normals = -4.0 * weights.T @ midpoints + facet_volumes[:, None] * centroids / volume
    return d_normals, d_offsets


def _to_parameter_facets(
    polytope: Polytope, raw_normals: np.ndarray, d_normals: np.ndarray, d_offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Move facet gradients to the parameter halfspaces they came from.

    Canonicalisation reorders facets and drops redundant halfspaces; a dropped halfspace
    touches the polytope at most in a lower face, so its gradient is zero.
    """
    cosines = raw_normals @ polytope.normals.T
    raw_d_normals = np.zeros_like(raw_normals)
    raw_d_offsets = np.zeros(len(raw_normals))
    for row, facet in enumerate(np.argmax(cosines, axis=1)):
        if cosines[row, facet] >= 1.0 - _NORMAL_MATCH:
            raw_d_normals[row], raw_d_offsets[row] = d_normals[facet], d_offsets[facet]
    return raw_d_normals, raw_d_offsets
