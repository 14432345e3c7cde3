"""A search's starts as the job table holds them: the latest step of each start."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from viterbo.atlas.jobs import SEARCH
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
    """Every start (of one search, or of all), ordered by search and start."""
    rows = store.jobs_of_kind(SEARCH, f"search:{search}:" if search else "")
    by_start: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        params = row["params"]
        by_start[(params["search"], int(params["start"]))].append(row)
    states = []
    for (name, start), steps in sorted(by_start.items()):
        steps.sort(key=lambda r: int(r["params"]["step"]))
        latest = steps[-1]
        done = [r for r in steps if r["status"] == DONE and r["result"]]
        result = done[-1]["result"] if done else None
        states.append(
            StartState(
                search=name,
                start=start,
                space=steps[0]["params"]["space"],
                seed=int(steps[0]["params"]["seed"]),
                step=int(latest["params"]["step"]),
                status=latest["status"],
                climb=result["climb"] if result else None,
                verification=result.get("verification") if result else None,
                start_polytope=steps[0]["params"].get("polytope"),
                seconds=sum(r["wall_seconds"] or 0.0 for r in steps),
                error=latest["error_message"] if latest["status"] != DONE else None,
            )
        )
    return states


def summaries(states: list[StartState]) -> list[dict[str, Any]]:
    """One line of facts per search: starts done, steps, best ratio and best verified ratio."""
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
                "steps": sum(s.step + (s.status == DONE) for s in group),
                "best_ratio": max(ratios, default=None),
                "best_verified_ratio": max(verified, default=None),
            }
        )
    return out
