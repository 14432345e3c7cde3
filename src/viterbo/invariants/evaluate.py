"""The one evaluation path: every registered quantity of a polytope, under a policy.

``atlas compute``, the atlas jobs and (later) ``atlas search`` all go through here, so
that a value means the same thing wherever it is computed:

* :func:`run_one` runs one algorithm on one polytope with the outcomes of the quantities it
  depends on, and turns every way of giving no value into an :class:`Outcome` with a reason
  (not applicable, missing input, failed, timed out);
* :func:`evaluate` runs all of them in dependency order -- the headline (volume, capacities,
  certificate, systolic ratio) first, the spectrum last -- within a :class:`Policy` (which
  algorithms, per-algorithm limits, a total budget) and returns a :class:`Record`;
* :func:`headline` projects outcomes onto the published values (capacity, its certificate
  level, systolic ratio, minimal loop, spectrum). The atlas export builds its rows with it
  from stored job results, ``atlas compute`` from a :class:`Record`.

>>> from viterbo.geometry import Polytope
>>> cube = Polytope.from_halfspaces(
...     [[1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0],
...      [0, 0, 1, 0], [0, 0, -1, 0], [0, 0, 0, 1], [0, 0, 0, -1]], [1] * 8)
>>> record = evaluate(cube, Policy(spectrum=False))
>>> top = record.headline()
>>> round(top["capacity"], 12), round(top["volume"], 12), top["capacity_certificate"]
(4.0, 16.0, 'confirmed')
>>> round(top["systolic_ratio"], 12)
0.5
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from viterbo.invariants import registry
from viterbo.invariants.registry import Algorithm, TimeBudgetExceeded, WorkBudgetExceeded
from viterbo.invariants.systolic import PREFERRED_VOLUME

if TYPE_CHECKING:
    from viterbo.geometry import Polytope

DONE, FAILED, TIMED_OUT = "done", "failed", "timed_out"
NOT_APPLICABLE, SKIPPED = "not_applicable", "skipped"

CERTIFY = "certified_capacity/certify"
SYSTOLIC = "systolic_ratio/formula"
# The quantities of the one-line headline, in dependency order; everything else (the
# spectrum) runs after them with what is left of the total budget.
HEADLINE = ("volume", "capacity", "certified_capacity", "systolic_ratio")
# Keys of a preset policy's per-algorithm limits and the types they take.
POLICY_KEYS: dict[str, type] = {
    "max_facets": int,
    "time_limit_s": float,
    "max_index": int,
    "max_paths": int,
    "max_cycles": int,
}
# Limits that travel to the algorithm itself as keyword arguments: deterministic work budgets,
# only for algorithms that declare them in ``Algorithm.work_limits`` (max_paths: the reeb
# searches' expanded paths; max_cycles: haim-kislev's facet cycles).
ALGORITHM_LIMITS = ("max_paths", "max_cycles")


@dataclass(frozen=True)
class Outcome:
    """What one algorithm gave: ``status`` and either a ``result`` or the ``reason`` for none.

    ``seconds`` is the computation's time when done, the time spent when timed out.
    ``timed_out_by`` names the budget that ran out (for the reason's wording).
    """

    status: str
    result: dict[str, Any] | None = None
    reason: str | None = None
    seconds: float | None = None
    timed_out_by: str | None = None

    @property
    def value(self) -> Any:
        return self.result.get("value") if self.status == DONE and self.result else None

    def as_input(self) -> dict[str, Any]:
        """The shape dependents read (``registry.Inputs``)."""
        return {"status": self.status, "result": self.result, "reason": self.reason}


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``: how every failure is reported."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def algorithm_arguments(algorithm: Algorithm, limits: Mapping[str, float]) -> dict[str, int]:
    """The limits of a policy entry that ``algorithm`` takes as keyword arguments."""
    return {name: int(limits[name]) for name in algorithm.work_limits if name in limits}


def work_budget_label(algorithm: Algorithm, exc: WorkBudgetExceeded) -> str:
    """``Outcome.timed_out_by`` of a spent work budget, worded like a policy time limit."""
    return f"the policy {exc.limit_name or 'work budget'} of {algorithm.key}"


def skip_reason(key: str, limits: Mapping[str, float], num_facets: int, index: int) -> str | None:
    """Why a preset policy's ``limits`` leave algorithm ``key`` out (``None``: it runs)."""
    max_facets = limits.get("max_facets")
    if max_facets is not None and num_facets > max_facets:
        return (
            f"policy: {key} limited to <= {int(max_facets)} facets (this polytope has {num_facets})"
        )
    max_index = limits.get("max_index")
    if max_index == 0:
        return f"policy: {key} not run on this family/params"
    if max_index is not None and index >= max_index:
        return (
            f"policy: {key} only on polytopes 0..{int(max_index) - 1} of each family/params "
            f"(this is {index})"
        )
    return None


def compute_one(
    algorithm: Algorithm,
    polytope: Polytope,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    time_budget: float | None = None,
    **params: Any,
) -> dict[str, Any]:
    """One algorithm's result on ``polytope``; raises what it raises.

    The primitive under :func:`run_one`. The atlas's quantity jobs call it in their child
    process, where an exception becomes the job's failure with its traceback and
    :class:`~viterbo.invariants.registry.TimeBudgetExceeded` its ``timed_out``.
    """
    return algorithm.compute(polytope, time_budget=time_budget, inputs=inputs or {}, **params)


def run_one(
    algorithm: Algorithm,
    polytope: Polytope,
    inputs: Mapping[str, Mapping[str, Any]] | None = None,
    time_budget: float | None = None,
    **params: Any,
) -> Outcome:
    """Run ``algorithm`` once; every way of giving no value becomes an outcome with a reason."""
    inputs = inputs or {}
    reason = algorithm.applicability(polytope)
    if reason is not None:
        return Outcome(NOT_APPLICABLE, reason=reason)
    missing = [
        q
        for q in algorithm.depends_on
        if not any(k.startswith(q + "/") and v["status"] == DONE for k, v in inputs.items())
    ]
    if missing:
        return Outcome(FAILED, reason=f"no finished input for {', '.join(missing)}")
    started = time.perf_counter()
    try:
        result = compute_one(algorithm, polytope, inputs, time_budget, **params)
    except WorkBudgetExceeded as exc:
        return Outcome(
            TIMED_OUT,
            reason=str(exc),
            seconds=exc.seconds,
            timed_out_by=work_budget_label(algorithm, exc),
        )
    except TimeBudgetExceeded as exc:
        return Outcome(TIMED_OUT, seconds=exc.seconds)
    except Exception as exc:  # an algorithm's failure is reported, not fatal
        return Outcome(FAILED, reason=one_line(exc))
    seconds = float(result.get("seconds", time.perf_counter() - started))
    return Outcome(DONE, result=result, seconds=seconds)


@dataclass(frozen=True)
class Policy:
    """What :func:`evaluate` runs and for how long.

    Attributes
    ----------
    limits
        Preset-style per-algorithm limits, ``{"capacity/haim-kislev": {"max_facets": 12}}``
        (keys of :data:`POLICY_KEYS`); ``index`` is the polytope's index in its family, for
        ``max_index``.
    only
        Run only these capacity algorithms (names); the others are skipped with
        ``only_reason``.
    spectrum
        Compute the spectrum (``False``: skipped with ``spectrum_reason``).
    budget
        Total seconds for the run (``None``: unbounded); the derived quantities always run.
    timeout
        Seconds per algorithm.
    budget_name, timeout_name
        How reasons name the two budgets (``atlas compute`` says ``--budget``/``--timeout``).
    """

    limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    index: int = 0
    only: frozenset[str] | None = None
    only_reason: str = "not selected"
    spectrum: bool = True
    spectrum_reason: str = "not requested"
    budget: float | None = None
    timeout: float | None = None
    budget_name: str = "budget"
    timeout_name: str = "timeout"

    def skipped(self, alg: Algorithm, polytope: Polytope) -> str | None:
        """Why this policy leaves ``alg`` out on ``polytope`` before anything runs."""
        if alg.quantity == "capacity" and self.only is not None and alg.name not in self.only:
            return self.only_reason
        if alg.quantity == "spectrum" and not self.spectrum:
            return self.spectrum_reason
        return skip_reason(alg.key, self.limits.get(alg.key, {}), polytope.num_facets, self.index)


@dataclass
class Record:
    """Every algorithm's :class:`Outcome` on one polytope, keyed ``quantity/algorithm``."""

    polytope: Polytope
    outcomes: dict[str, Outcome]

    def headline(self) -> dict[str, Any]:
        """The published values (see :func:`headline`)."""
        return headline(self.outcomes)


def dependency_order(algorithms: list[Algorithm]) -> list[Algorithm]:
    """Every quantity after the quantities it depends on (a cycle runs as it is)."""
    by_quantity: dict[str, list[Algorithm]] = {}
    for algorithm in algorithms:
        by_quantity.setdefault(algorithm.quantity, []).append(algorithm)
    ordered: list[Algorithm] = []
    done: set[str] = set()
    pending = sorted(by_quantity)
    while pending:
        ready = [
            q
            for q in pending
            if all(d in done or d not in by_quantity for a in by_quantity[q] for d in a.depends_on)
        ]
        for quantity in ready or pending:
            ordered.extend(by_quantity[quantity])
            done.add(quantity)
        pending = [q for q in pending if q not in done]
    return ordered


def _headline_rank(alg: Algorithm) -> int:
    return HEADLINE.index(alg.quantity) if alg.quantity in HEADLINE else len(HEADLINE)


def evaluate(polytope: Polytope, policy: Policy | None = None) -> Record:
    """Every registered quantity of ``polytope`` under ``policy``, headline first.

    An algorithm that is not applicable is recorded so even when the policy leaves it out
    (its reason is the stronger one). With a total budget each algorithm gets what is left of
    it (or ``policy.timeout`` if smaller); one that would start with nothing left is skipped.
    """
    policy = policy or Policy()
    ends_at = None if policy.budget is None else time.perf_counter() + policy.budget
    outcomes: dict[str, Outcome] = {}
    for alg in sorted(dependency_order(registry.algorithms()), key=_headline_rank):
        outcomes[alg.key] = _evaluate_one(alg, polytope, policy, ends_at, outcomes)
    return Record(polytope, outcomes)


def _evaluate_one(
    alg: Algorithm,
    polytope: Polytope,
    policy: Policy,
    ends_at: float | None,
    outcomes: Mapping[str, Outcome],
) -> Outcome:
    skipped = policy.skipped(alg, polytope)
    limit, by = policy.timeout, policy.timeout_name
    if skipped is None and ends_at is not None and not alg.depends_on:
        remaining = ends_at - time.perf_counter()
        if remaining <= 0:
            skipped = f"the total budget of {policy.budget:g} s ({policy.budget_name}) was used up"
        elif limit is None or remaining < limit:
            limit, by = remaining, policy.budget_name
    if skipped is not None:
        inapplicable = alg.applicability(polytope)
        if inapplicable is not None:
            return Outcome(NOT_APPLICABLE, reason=inapplicable)
        return Outcome(SKIPPED, reason=skipped)
    limits = policy.limits.get(alg.key, {})
    time_limit = limits.get("time_limit_s")
    if time_limit is not None and (limit is None or time_limit < limit):
        limit, by = float(time_limit), f"policy time_limit_s of {alg.key}"
    inputs = {
        key: o.as_input() for key, o in outcomes.items() if key.partition("/")[0] in alg.depends_on
    }
    outcome = run_one(alg, polytope, inputs, limit, **algorithm_arguments(alg, limits))
    if outcome.status == TIMED_OUT and outcome.timed_out_by is not None:  # a work budget
        return outcome
    if outcome.status == TIMED_OUT:
        label = f"the total {by}" if by == policy.budget_name else f"the per-algorithm {by}"
        if by.startswith("policy"):
            label = f"the {by}"
        return Outcome(
            TIMED_OUT,
            seconds=outcome.seconds,
            reason=f"time budget exceeded after {outcome.seconds:.3g} s ({label})",
            timed_out_by=label,
        )
    return outcome


# ------------------------------------------------------------------------------ headline


def _number(result: Mapping[str, Any] | None) -> float | None:
    if not result:
        return None
    v = result.get("value")
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _done(outcomes: Mapping[str, Outcome], key: str) -> dict[str, Any] | None:
    o = outcomes.get(key)
    return o.result if o is not None and o.status == DONE else None


def headline(outcomes: Mapping[str, Outcome]) -> dict[str, Any]:
    """The published values from the outcomes of every algorithm on one polytope.

    ``volume`` is ``volume/qhull`` (systolic.PREFERRED_VOLUME) when done, else the first other finished volume;
    ``capacity`` and its ``capacity_algorithm``, ``capacity_certificate`` (level) and
    ``capacity_agreeing`` come from the certificate, never from a single capacity algorithm;
    ``systolic_ratio`` from its formula; ``minimal_action_cycle`` is the certified loop;
    ``spectrum`` the actions of the first finished spectrum algorithm. Certificates written
    before levels existed have none: left ``None``, not guessed.
    """
    volume = _number(_done(outcomes, PREFERRED_VOLUME))
    if volume is None:
        volume = next(
            (
                _number(o.result)
                for k, o in sorted(outcomes.items())
                if k.startswith("volume/") and o.status == DONE and _number(o.result) is not None
            ),
            None,
        )
    certified = _done(outcomes, CERTIFY)
    spectrum = next(
        (o.result for k, o in sorted(outcomes.items()) if k.startswith("spectrum/") and o.result),
        None,
    )
    actions = spectrum.get("value") if spectrum else None
    return {
        "volume": volume,
        "capacity": _number(certified),
        "capacity_algorithm": certified.get("algorithm") if certified else None,
        "capacity_certificate": certified.get("level") if certified else None,
        "capacity_agreeing": list(certified.get("agreeing") or []) if certified else None,
        "systolic_ratio": _number(_done(outcomes, SYSTOLIC)),
        "minimal_action_cycle": certified.get("loop") if certified else None,
        "spectrum": [float(x) for x in actions] if isinstance(actions, list) else None,
    }
