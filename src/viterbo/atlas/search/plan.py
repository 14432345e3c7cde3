"""The first job of every start of a search (idempotent: a search re-enqueued adds nothing)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from viterbo.atlas.errors import AtlasError
from viterbo.atlas.jobs import search_job_spec
from viterbo.atlas.kinds import family_generator
from viterbo.atlas.store import JobSpec
from viterbo.geometry import Polytope, as_lagrangian_product
from viterbo.search import HalfspaceSpace, LagrangianProductSpace, SearchSpaceError
from viterbo.search.run import DEFAULT_MAX_TRIALS, TRIALS_PER_JOB
from viterbo.search.spaces import SearchSpace, parse_space

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class SearchPlanError(AtlasError):
    """A search that cannot be planned (bad name, space, or starts)."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SearchPlanError(
            f"bad search name {name!r}: letters, digits, '.', '_' and '-', at most 64"
        )
    return name


def space_for(text: str | None, polytopes: Sequence[Polytope]) -> SearchSpace:
    """The named space, else the one the start polytopes belong to (their facet count)."""
    if text:
        try:
            return parse_space(text)
        except SearchSpaceError as exc:
            raise SearchPlanError(str(exc)) from None
    if not polytopes:
        raise SearchPlanError("a random search needs --space (e.g. lagrangian-product:5,5)")
    first = polytopes[0]
    factors = as_lagrangian_product(first)
    if factors is not None:
        return LagrangianProductSpace(factors[0].num_facets, factors[1].num_facets)
    return HalfspaceSpace(first.num_facets)


def family_starts(family: str, params: dict[str, Any], count: int) -> list[Polytope]:
    """Polytopes ``0 .. count-1`` of an atlas family (the atlas's own generator)."""
    try:
        generate = family_generator(family)
        return [generate(family, params, index).polytope for index in range(count)]
    except (KeyError, ValueError) as exc:
        raise SearchPlanError(f"cannot start from family {family!r}: {exc}") from None


def start_specs(
    name: str,
    space: SearchSpace,
    *,
    starts: int,
    seed: int = 0,
    max_trials: int = DEFAULT_MAX_TRIALS,
    trials_per_job: int = TRIALS_PER_JOB,
    polytopes: Sequence[Polytope] = (),
) -> list[JobSpec]:
    """One step-0 job per start: ``polytopes`` first (in order), then random points."""
    check_name(name)
    if starts < 1 or max_trials < 1 or trials_per_job < 1:
        raise SearchPlanError("--starts, --max-trials and --trials-per-job must be at least 1")
    specs = []
    for start in range(max(starts, len(polytopes))):
        params: dict[str, Any] = {
            "search": name,
            "start": start,
            "step": 0,
            "seed": int(seed),
            "space": space.spec,
            "max_trials": int(max_trials),
            "trials_per_job": int(trials_per_job),
            "climb": None,
        }
        if start < len(polytopes):
            try:
                space.from_polytope(polytopes[start])
            except SearchSpaceError as exc:
                raise SearchPlanError(f"start {start}: {exc}") from None
            params["polytope"] = polytopes[start].to_dict()
        specs.append(search_job_spec(params))
    return specs
