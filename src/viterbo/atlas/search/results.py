"""A search's starts as the job table holds them: the latest step of each start."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from viterbo.atlas.jobs import SEARCH, parse_search_job_key
from viterbo.atlas.models import DONE
from viterbo.atlas.store import JobStore


@dataclass(frozen=True)
class StartState:
    """The latest step of one start: its job status and, once a step is done, the climb."""

    search: str
    start: int
    space: dict[str, Any]
    seed: int
    step: int
    status: str  # of the latest job
    climb: dict[str, Any] | None  # the latest finished step's state
    verification: dict[str, Any] | None
    start_polytope: dict[str, Any] | None
    seconds: float  # wall time of all its steps
    error: str | None

    @property
    def finished(self) -> bool:
        """The climb has ended (converged, stopped, untrusted start, disagreement)."""
        return self.climb is not None and self.climb["status"] != "running"

    @property
    def ratio(self) -> float | None:
        return self.climb.get("ratio") if self.climb else None


def start_states(store: JobStore, search: str | None = None) -> list[StartState]:
    """Every start (of one search, or of all), ordered by search and start.

    A start is a chain of jobs; only two of them are read in full (the first for the
    start's space and polytope, the latest done for its climb; the latest step's number and
    status come from its key and row), so that the status of a long search does not parse
    every step's climb state.
    """
    rows = store.jobs_of_kind(SEARCH, f"search:{search}:" if search else "")
    chains: dict[tuple[str, int], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for row in rows:
        name, start, step = parse_search_job_key(row["idempotency_key"])
        chains[(name, start)].append((step, row))
    for steps in chains.values():
        steps.sort(key=lambda item: item[0])
    # Read in full: the first step (space, seed, start polytope) and the latest done (climb).
    firsts = {chain: steps[0][1] for chain, steps in chains.items()}
    dones = {
        chain: done[-1]
        for chain, steps in chains.items()
        if (done := [row for _, row in steps if row["status"] == DONE])
    }
    documents = store.job_documents(row["id"] for row in [*firsts.values(), *dones.values()])
    states = []
    for (name, start), steps in sorted(chains.items()):
        step, latest = steps[-1]
        params = documents[firsts[(name, start)]["id"]]["params"]
        done = dones.get((name, start))
        result = documents[done["id"]]["result"] if done else None
        states.append(
            StartState(
                search=name,
                start=start,
                space=params["space"],
                seed=int(params["seed"]),
                step=step,
                status=latest["status"],
                climb=result["climb"] if result else None,
                verification=result.get("verification") if result else None,
                start_polytope=params.get("polytope"),
                seconds=sum(row["wall_seconds"] or 0.0 for _, row in steps),
                error=latest["error_message"] if latest["status"] != DONE else None,
            )
        )
    return states


def summaries(states: list[StartState]) -> list[dict[str, Any]]:
    """One line of facts per search: starts done, jobs, trials, best and best verified ratio."""
    by_search: dict[str, list[StartState]] = defaultdict(list)
    for state in states:
        by_search[state.search].append(state)
    out = []
    for name, group in sorted(by_search.items()):
        ratios = [s.ratio for s in group if s.ratio is not None]
        verified = [
            s.ratio
            for s in group
            if s.finished and s.verification and s.verification.get("verified")
        ]
        space = group[0].space
        out.append(
            {
                "search": name,
                "space": space,
                "starts": len(group),
                "finished": sum(s.finished for s in group),
                "failed": sum(s.status not in (DONE, "pending", "running") for s in group),
                "jobs": sum(s.step + (s.status == DONE) for s in group),
                "trials": sum(s.climb["trials"] for s in group if s.climb),
                "best_ratio": max(ratios, default=None),
                "best_verified_ratio": max(verified, default=None),
            }
        )
    return out
