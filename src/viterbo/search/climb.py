"""Local maximisation of the certified systolic ratio, one checkpointable trial at a time.

The systolic ratio is a minimum over closed characteristics divided by the volume: smooth
where the minimal loop is unique, with kinks where several loops tie -- and local maxima
(HK-O's pentagon product among them) sit on such kinks, where plain gradient ascent
zig-zags and stalls. The climb is a proximal bundle method over the exact branch gradients
of :mod:`viterbo.search.objective` (the "several loops' subgradients"):

* every trusted trial point adds its plane (value and branch gradient) to a bundle; the
  model of ``log sys`` near the incumbent is the minimum of those planes, each lifted by a
  locality measure so that far or inconsistent planes bind only far away;
* the trial maximises the model minus ``|d|^2 / (2t)``, through its dual, a small
  quadratic program on the simplex (:func:`model_step`: scipy's SLSQP, then an exact
  active-set polish);
* a trial is accepted when it is *trusted* (strongest certificate level available) and
  realises ``ACCEPT`` of the predicted gain; then ``t`` may grow. Otherwise (a null step)
  its plane stays in the bundle and ``t`` halves;
* the climb has converged when the predicted gain or ``t`` falls below its tolerance;
  ``direction_norm`` (the minimum-norm convex combination of the nearby branch gradients)
  is the stationarity measure reported with the optimum.

A disagreement between exact algorithms stops the climb (``status = "disagreement"``): it
is a bug to surface, never a value to climb into. The whole state is JSON (:class:`Climb`),
every trial is one :func:`step`, and a resumed climb repeats exactly what an uninterrupted
one does, so a search killed at any point gives the same result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize, nnls

from viterbo.invariants.evaluate import Policy
from viterbo.search.objective import DISAGREEMENT, Evaluation, evaluate_point
from viterbo.search.spaces import SearchSpace, space_from_spec

RUNNING, CONVERGED, STOPPED = "running", "converged", "stopped"
UNTRUSTED_START = "untrusted-start"
# Trust region: accept a trial that realises this fraction of the model's predicted gain,
# grow the region when it realises EXPAND of it.
ACCEPT, EXPAND = 0.1, 0.75
INITIAL_STEP = 0.05
MAX_STEP = 0.5
MIN_STEP = 1e-10
MIN_PREDICTED = 1e-13
MAX_BUNDLE = 32
# Bundle gradients count for the stationarity measure within this many steps of the incumbent.
BUNDLE_RADIUS = 8.0
# Weight of the distance term of the locality measure (see model_step).
LOCALITY = 1e-2
# The dual QP (simplex_qp), with its objective scaled to order one: a ridge of RIDGE makes
# every reduced KKT system regular; it moves the step by about RIDGE, and the predicted gain
# is the model's value at the step actually taken, so it stays exact. KKT_TOL is the
# multiplier tolerance.
RIDGE = 1e-13
KKT_TOL = 1e-13


@dataclass
class Climb:
    """The JSON state of one climb (one start of a search)."""

    space: dict[str, Any]
    x: list[float]
    ratio: float | None = None
    level: str | None = None
    gradient: list[float] | None = None
    # Recent points and their branch gradients: {"x": [...], "g": [...]}.
    bundle: list[dict[str, list[float]]] = field(default_factory=list)
    step_length: float = INITIAL_STEP
    trials: int = 0
    accepted: int = 0
    evaluations: int = 0
    status: str = RUNNING
    message: str | None = None
    direction_norm: float | None = None
    trajectory: list[float] = field(default_factory=list)
    start_ratio: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Climb:
        return cls(**data)

    @property
    def finished(self) -> bool:
        return self.status != RUNNING


def start(space: SearchSpace, x: np.ndarray, policy: Policy | None = None) -> Climb:
    """Evaluate the start point; the climb is ``untrusted-start`` when it cannot be trusted."""
    x = space.normalise(np.asarray(x, dtype=float))
    evaluation = evaluate_point(space, x, policy)
    climb = Climb(space=space.spec, x=x.tolist(), evaluations=1)
    if not evaluation.trusted or evaluation.gradient is None:
        climb.status = DISAGREEMENT if evaluation.level == DISAGREEMENT else UNTRUSTED_START
        climb.message = evaluation.reason or "no gradient at the start"
        return climb
    _move_to(climb, x, evaluation)
    climb.start_ratio = evaluation.ratio
    return climb


def step(climb: Climb, policy: Policy | None = None, *, max_trials: int = 500) -> Climb:
    """One trial from the incumbent; returns the updated state (the argument is not changed)."""
    climb = Climb.from_json(climb.to_json())
    if climb.finished:
        return climb
    if climb.trials >= max_trials:
        climb.status, climb.message = STOPPED, f"stopped after {max_trials} trials"
        return climb
    space = space_from_spec(climb.space)
    climb.direction_norm = float(np.linalg.norm(min_norm_direction(_nearby_gradients(climb))))
    trial, predicted = model_step(climb)
    if predicted < MIN_PREDICTED or climb.step_length < MIN_STEP:
        climb.status = CONVERGED
        climb.message = (
            f"predicted gain {predicted:.1e}, step {climb.step_length:.1e}, "
            f"|d| {climb.direction_norm:.1e}"
        )
        return climb
    evaluation = evaluate_point(space, trial, policy)
    climb.trials += 1
    climb.evaluations += 1
    if evaluation.level == DISAGREEMENT:
        climb.status, climb.message = DISAGREEMENT, f"at a trial point: {evaluation.reason}"
        return climb
    trusted = evaluation.trusted and evaluation.ratio and evaluation.gradient is not None
    gain = np.log(evaluation.ratio) - np.log(climb.ratio) if trusted else -np.inf
    if trusted:
        # Every trusted trial joins the bundle, accepted or not: at a kink the planes of
        # the other minimal loops' branches are what turns the model along it.
        entry = {
            "x": trial.tolist(),
            "f": float(np.log(evaluation.ratio)),
            "g": evaluation.gradient.tolist(),
        }
        climb.bundle = [*climb.bundle, entry][-MAX_BUNDLE:]
    if gain >= ACCEPT * predicted:
        _move_to(climb, trial, evaluation)
        if gain >= EXPAND * predicted:
            climb.step_length = min(2.0 * climb.step_length, MAX_STEP)
        climb.accepted += 1
    else:
        # A null step: the trial's plane joins the model, and a shorter prox step trusts
        # the model less far.
        climb.step_length *= 0.5
    climb.trajectory.append(float(climb.ratio))
    return climb


def run(
    climb: Climb, policy: Policy | None = None, *, max_trials: int = 500, callback: Any = None
) -> Climb:
    """Step until the climb has finished; ``callback(climb)`` after every trial."""
    while not climb.finished:
        climb = step(climb, policy, max_trials=max_trials)
        if callback is not None:
            callback(climb)
    return climb


def model_step(climb: Climb) -> tuple[np.ndarray, float]:
    """The proximal bundle step from the incumbent, and the gain its model predicts.

    Each bundle entry ``j`` (and the incumbent itself) gives a plane ``α_j + <g_j, d>`` of
    ``log sys(x + d) - log sys(x)``, with the locality measure ``α_j = max(|p_j(x) -
    f(x)|, LOCALITY |x - x_j|^2)`` (``p_j`` the entry's linearisation): planes from far or
    inconsistent points bind only far from ``x``, so a non-concave branch cannot wreck the
    model. The step maximises ``min_j (α_j + <g_j, d>) - |d|^2 / (2t)``; its dual is
    ``min over the simplex of t/2 |sum λ_j g_j|^2 + sum λ_j α_j`` (SLSQP), and
    ``d = t sum λ_j g_j``.
    """
    x = np.asarray(climb.x)
    G, alpha = _planes(climb)
    t = climb.step_length
    lam = _dual_weights(G, alpha, t)
    d = t * (lam @ G)
    predicted = float(np.min(alpha + G @ d))
    return x + d, max(predicted, 0.0)


def active_planes(climb: Climb) -> np.ndarray:
    """The gradients the model's step combines (dual weight > 1e-6), one row each.

    At a converged climb these are the branches of the minimal loops that tie at the
    optimum: one at a smooth maximum, several at a kink.
    """
    G, alpha = _planes(climb)
    lam = _dual_weights(G, alpha, climb.step_length)
    return G[lam > 1e-6]


def _planes(climb: Climb) -> tuple[np.ndarray, np.ndarray]:
    """The model's gradients and locality measures: the incumbent's first (``α = 0``)."""
    x = np.asarray(climb.x)
    f = float(np.log(climb.ratio))
    gradients, errors = [np.asarray(climb.gradient)], [0.0]
    for entry in climb.bundle:
        point, g = np.asarray(entry["x"]), np.asarray(entry["g"])
        linearised = entry["f"] + float(g @ (x - point))
        distance = float(np.sum((x - point) ** 2))
        gradients.append(g)
        errors.append(max(abs(linearised - f), LOCALITY * distance))
    return np.array(gradients), np.array(errors)


def _dual_weights(G: np.ndarray, alpha: np.ndarray, t: float) -> np.ndarray:
    """``argmin over the simplex of ½ λᵀ M λ + αᵀ λ`` with ``M = t G Gᵀ``.

    An exact primal active-set method (:func:`simplex_qp`); SLSQP (scipy) only if it does
    not terminate. The accept test needs the model's predicted gain to rounding level, and
    near a maximum that gain is a difference of nearly equal planes; SLSQP also cost up to
    1.5 s per trial late in a climb (measured with scipy 1.17), 97 % of the trial.
    """
    k = len(G)
    if k == 1:
        return np.ones(1)
    gram = t * (G @ G.T)
    # Scale the objective to order one: the tolerances below are absolute.
    scale = max(float(np.max(np.abs(gram))), float(np.max(alpha)), 1e-300)
    gram, alpha = gram / scale, alpha / scale
    lam = simplex_qp(gram, alpha)
    if lam is None:
        lam = _active_set(gram, alpha, _slsqp_weights(gram, alpha))
    return lam


def simplex_qp(gram: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """``argmin over the simplex {λ >= 0, sum λ = 1} of ½ λᵀ H λ + αᵀ λ``, ``H`` = ``gram``
    plus a ridge of :data:`RIDGE` (``gram`` and ``alpha`` scaled to order one), by the primal
    active-set method.

    From the best vertex: solve the problem on the current support with the equality
    constraint only; if that leaves the simplex, walk towards it until a weight reaches zero
    and drop that weight; otherwise add the weight whose multiplier is most negative, until
    the KKT conditions hold. The ridge keeps every reduced system regular (a bundle with more
    planes than dimensions has a singular gram matrix), so each iteration strictly lowers the
    objective or drops a weight, and the method terminates. ``None`` if it did not within
    its iteration budget (then the caller falls back to SLSQP).
    """
    k = len(alpha)
    hessian = gram + RIDGE * np.eye(k)
    first = int(np.argmin(0.5 * np.diag(hessian) + alpha))
    lam = np.zeros(k)
    lam[first] = 1.0
    support = np.zeros(k, dtype=bool)
    support[first] = True
    for _ in range(20 * k + 20):
        idx = np.flatnonzero(support)
        n = len(idx)
        kkt = np.zeros((n + 1, n + 1))
        kkt[:n, :n] = hessian[np.ix_(idx, idx)]
        kkt[:n, n], kkt[n, :n] = -1.0, 1.0
        try:
            solution = np.linalg.solve(kkt, np.r_[-alpha[idx], 1.0])
        except np.linalg.LinAlgError:
            return None
        target = solution[:n]
        if target.min() < 0.0:
            move = target - lam[idx]
            shrinking = np.flatnonzero(move < 0.0)
            ratios = lam[idx][shrinking] / -move[shrinking]
            blocking = idx[shrinking[int(np.argmin(ratios))]]
            lam[idx] = np.clip(lam[idx] + min(1.0, float(ratios.min())) * move, 0.0, None)
            lam[blocking], support[blocking] = 0.0, False
            continue
        lam[:] = 0.0
        lam[idx] = target
        multipliers = hessian @ lam + alpha - solution[n]
        outside = np.flatnonzero(~support)
        if len(outside) == 0:
            return lam / lam.sum()
        worst = int(outside[np.argmin(multipliers[outside])])
        if multipliers[worst] >= -KKT_TOL:
            return lam / lam.sum()
        support[worst] = True
    return None


def _slsqp_weights(gram: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    def objective(lam: np.ndarray) -> tuple[float, np.ndarray]:
        return 0.5 * lam @ gram @ lam + alpha @ lam, gram @ lam + alpha

    k = len(alpha)
    result = minimize(
        objective,
        np.full(k, 1.0 / k),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        # The constraint's exact Jacobian: without it SLSQP differences it numerically, which
        # was 3/4 of its time (and a fifth of a search trial).
        constraints=[
            {"type": "eq", "fun": lambda lam: lam.sum() - 1.0, "jac": lambda lam: np.ones_like(lam)}
        ],
        options={"maxiter": 200, "ftol": 1e-15},
    )
    lam = np.clip(result.x, 0.0, None)
    return lam / lam.sum() if lam.sum() > 0 else np.full(k, 1.0 / k)


def _active_set(gram: np.ndarray, alpha: np.ndarray, lam: np.ndarray) -> np.ndarray:
    support = lam > 1e-12
    lam = np.where(support, lam, 0.0)
    lam /= lam.sum()
    for _ in range(4 * len(alpha)):
        idx = np.flatnonzero(support)
        n = len(idx)
        kkt = np.zeros((n + 1, n + 1))
        kkt[:n, :n] = gram[np.ix_(idx, idx)]
        kkt[:n, n], kkt[n, :n] = -1.0, 1.0
        solution = np.linalg.lstsq(kkt, np.r_[-alpha[idx], 1.0], rcond=None)[0]
        target = np.zeros_like(lam)
        target[idx] = solution[:n]
        if target[idx].min() < 0.0:
            # Walk towards the subspace optimum until a weight reaches zero; drop it.
            move = target - lam
            shrinking = idx[move[idx] < 0]
            step = min(1.0, float(np.min(lam[shrinking] / -move[shrinking])))
            lam = np.clip(lam + step * move, 0.0, None)
            support = lam > 1e-15
            continue
        lam = target
        value = solution[n]
        residual = gram @ lam + alpha - value
        worst = int(np.argmin(np.where(support, np.inf, residual)))
        if support.all() or residual[worst] >= -1e-13:
            break
        support[worst] = True
    return lam / lam.sum()


def min_norm_direction(gradients: np.ndarray) -> np.ndarray:
    """The minimum-norm point of the convex hull of the rows of ``gradients``.

    ``min |G^T λ|`` over ``λ >= 0, sum λ = 1``, as non-negative least squares with the
    simplex constraint as a heavily weighted extra row.
    """
    gradients = np.atleast_2d(np.asarray(gradients, dtype=float))
    if len(gradients) == 1:
        return gradients[0]
    scale = max(1.0, float(np.abs(gradients).max()))
    weight = 1e3 * scale
    system = np.vstack([gradients.T, weight * np.ones(len(gradients))])
    target = np.r_[np.zeros(gradients.shape[1]), weight]
    lam, _ = nnls(system, target, maxiter=50 * len(gradients))
    lam /= lam.sum()
    return lam @ gradients


def _move_to(climb: Climb, x: np.ndarray, evaluation: Evaluation) -> None:
    # The point is not re-normalised while climbing: the gradient is orthogonal to the
    # gauge (translations and scalings leave sys unchanged), so the gauge drifts only at
    # second order in the step, and re-normalising would cost an evaluation per step.
    climb.x = np.asarray(x).tolist()
    climb.ratio = float(evaluation.ratio)
    climb.level = evaluation.level
    climb.gradient = evaluation.gradient.tolist()


def _nearby_gradients(climb: Climb) -> np.ndarray:
    """The incumbent's gradient and the bundle's from points within the sampling radius."""
    x = np.asarray(climb.x)
    radius = BUNDLE_RADIUS * climb.step_length
    near = [e["g"] for e in climb.bundle if float(np.max(np.abs(np.asarray(e["x"]) - x))) <= radius]
    return np.array([climb.gradient, *near])
