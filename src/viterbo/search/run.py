"""Searches without a job store: many climbs from seeded starts, each verified at its end.

The atlas runs the same three functions as jobs (:mod:`viterbo.atlas.jobs`): :func:`begin`
draws and certifies a start, :func:`advance` takes the next trials (one job, the checkpoint
unit), :func:`finish` verifies the optimum. A notebook calls :func:`search`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from viterbo.geometry import Polytope
from viterbo.invariants.evaluate import Policy
from viterbo.search import climb as climbing
from viterbo.search.climb import Climb
from viterbo.search.spaces import SearchSpace, polytope_of, space_from_spec
from viterbo.search.verify import verify_optimum

# One job of a search in the store (its checkpoint unit): this many trials. A climb is a
# deterministic function of its state, so how it is cut into advances does not change it;
# one trial per job spent as much on the job (fork, JSON, SQL) as on the trial.
TRIALS_PER_JOB = 16
DEFAULT_MAX_TRIALS = 400
# Gradients closer than this (relative) belong to the same minimal loop's branch.
BRANCH_RTOL = 1e-3


@dataclass(frozen=True)
class SearchResult:
    """One finished climb with its verification."""

    start: int
    climb: Climb
    verification: dict[str, Any]
    polytope: Polytope | None

    @property
    def ratio(self) -> float | None:
        return self.climb.ratio

    @property
    def verified(self) -> bool:
        return bool(self.verification.get("verified"))


def start_seed(seed: int, start: int) -> np.random.SeedSequence:
    """The random stream of one start: a function of the search's seed and the start only."""
    return np.random.SeedSequence([int(seed), int(start)])


def begin(
    space: SearchSpace,
    seed: int,
    start: int,
    polytope: Polytope | None = None,
    policy: Policy | None = None,
) -> Climb:
    """The certified start: ``polytope`` if given, else a random point of ``space``."""
    if polytope is not None:
        x = space.from_polytope(polytope)
    else:
        x = space.random_start(np.random.default_rng(start_seed(seed, start)))
    return climbing.start(space, x, policy)


def advance(
    climb: Climb,
    policy: Policy | None = None,
    *,
    max_trials: int = DEFAULT_MAX_TRIALS,
    trials: int = TRIALS_PER_JOB,
) -> Climb:
    """The next ``trials`` trials (fewer when the climb ends on the way).

    Every :func:`viterbo.search.climb.step` either spends a trial or ends the climb, and
    depends on the state alone: advancing by 16 and by 1 sixteen times give the same climb.
    """
    end = climb.trials + trials
    while not climb.finished and climb.trials < end:
        climb = climbing.step(climb, policy, max_trials=max_trials)
    return climb


def finish(climb: Climb, seed: int, start: int, policy: Policy | None = None) -> dict[str, Any]:
    """Verification of the climb's end point (also for climbs that stopped early)."""
    space = space_from_spec(climb.space)
    image_seed = int(start_seed(seed, start).generate_state(1)[0])
    report = verify_optimum(space, np.asarray(climb.x), image_seed, policy)
    report["distinct_branches"] = distinct_branches(climb)
    return report


def distinct_branches(climb: Climb) -> int:
    """How many distinct minimal-loop branches the final model step combines.

    At a smooth maximum this is 1; at a kink (HK-O's product) several minimal loops tie,
    each with its own branch gradient (the planes with positive dual weight).
    """
    gradients = climbing.active_planes(climb) if climb.gradient is not None else []
    kept: list[np.ndarray] = []
    for g in gradients:
        scale = max(float(np.linalg.norm(g)), 1.0)
        if all(np.linalg.norm(g - k) > BRANCH_RTOL * scale for k in kept):
            kept.append(np.asarray(g))
    return len(kept)


def search(
    space: SearchSpace,
    starts: int | Iterable[int],
    *,
    seed: int = 0,
    max_trials: int = DEFAULT_MAX_TRIALS,
    policy: Policy | None = None,
    callback: Callable[[int, Climb], None] | None = None,
) -> list[SearchResult]:
    """Climb from random points of ``space``: starts ``0 .. starts-1``, or the given start
    indices (start ``i`` of seed ``s`` is the same climb as in ``atlas search --seed s``);
    results in start order.

    Examples
    --------
    >>> from viterbo.search import LagrangianProductSpace, search
    >>> [result] = search(LagrangianProductSpace(3, 3), 1, seed=0, max_trials=5)
    >>> result.climb.ratio >= result.climb.start_ratio
    True
    """
    results = []
    for start in range(starts) if isinstance(starts, int) else starts:
        climb = begin(space, seed, start, policy=policy)
        while not climb.finished:
            climb = advance(climb, policy, max_trials=max_trials)
            if callback is not None:
                callback(start, climb)
        verification = finish(climb, seed, start, policy) if climb.ratio is not None else {}
        polytope = polytope_of(space, np.asarray(climb.x)) if climb.ratio is not None else None
        results.append(SearchResult(start, climb, verification, polytope))
    return results
