"""`atlas status`: counts per status / family / algorithm, progress, ETA and recent failures.

Every query is answered from the covering indexes of migration 0002 (no result blobs read).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from viterbo.atlas.jobs import GENERATE, SEARCH
from viterbo.atlas.models import ALL_STATES, DONE, TERMINAL_STATES
from viterbo.atlas.search.results import start_states, summaries
from viterbo.atlas.store import JobStore

RATE_WINDOW_SECONDS = 300.0


@dataclass
class Progress:
    """Totals for a progress line.

    ``projected_total`` is the job count expected once every unfinished ``generate`` job has
    added its quantity jobs (their mean fan-out so far times the generate jobs left); ``None``
    while no generate job has finished (the fan-out is unknown); equal to ``total`` when no
    generate job is left.
    """

    total: int
    finished: int
    running: int
    rate_per_s: float | None
    eta_s: float | None
    projected_total: int | None = None
    generating: int = 0  # generate jobs not finished yet

    @property
    def remaining(self) -> int:
        return (
            self.total if self.projected_total is None else self.projected_total
        ) - self.finished


def projected_total(by_kind: dict[str, dict[str, int]]) -> int | None:
    """The final job count: today's plus the jobs the unfinished generate jobs will add.

    ``by_kind`` maps kind -> status -> count (``generate`` and every other kind; only their
    totals matter for the other kinds).  The fan-out is the mean number of jobs of other kinds
    (quantity jobs: only generate jobs add jobs) per finished (``done``) generate job; ``None``
    while generate jobs are open but none is done yet.
    """
    total = sum(sum(c.values()) for c in by_kind.values())
    gen = by_kind.get(GENERATE, {})
    open_generate = sum(n for s, n in gen.items() if s not in TERMINAL_STATES)
    if not open_generate:
        return total
    done_generate = gen.get(DONE, 0)
    if not done_generate:
        return None
    fan_out = (total - sum(gen.values())) / done_generate
    return total + round(open_generate * fan_out)


def _by_kind(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, int]]:
    """kind -> status -> count from ``counts_by("kind", ...)`` rows (extra columns summed over)."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        kind, status, n = row[0], row[-2], int(row[-1])
        per = out.setdefault(kind, {})
        per[status] = per.get(status, 0) + n
    return out


def progress(
    store: JobStore,
    counts: dict[str, int] | None = None,
    window: float = RATE_WINDOW_SECONDS,
    *,
    by_kind: dict[str, dict[str, int]] | None = None,
) -> Progress:
    """Finished / total jobs, recent completion rate and the ETA it implies.

    ``counts`` (status -> count) and ``by_kind`` (kind -> status -> count, only ``generate``
    is used) are read from the store when not given.  The ETA covers the jobs that unfinished
    generate jobs will still add (:func:`projected_total`); it is unknown (``None``) until one
    generate job is done.
    """
    counts = counts if counts is not None else store.status_counts()
    generate = (
        by_kind.get(GENERATE, {}) if by_kind is not None else store.kind_status_counts(GENERATE)
    )
    total = sum(counts.values())
    finished = sum(counts.get(s, 0) for s in TERMINAL_STATES)
    others = {"other": {"any": total - sum(generate.values())}}
    projected = projected_total({GENERATE: generate, **others})
    generating = sum(n for s, n in generate.items() if s not in TERMINAL_STATES)
    now = time.time()
    times = store.job_times(now - window)
    rate, eta = None, None
    if times["recent_jobs"]:
        # The rate over the time the workers were actually busy in the window (a build that
        # started 5 s ago must not be divided by the full window).
        busy = max(now - max(times["recent_first_start"] or now - window, now - window), 1e-3)
        rate = times["recent_jobs"] / busy
        if projected is not None:
            eta = measured_eta(times["groups"], projected - total, times["recent_wall"] / busy)
    return Progress(total, finished, counts.get("running", 0), rate, eta, projected, generating)


def measured_eta(
    groups: dict[tuple[Any, ...], tuple[int, int, float]], unseen: int, concurrency: float
) -> float | None:
    """Seconds left: every job still to run costs the mean wall time measured for its kind,
    quantity and algorithm (or the mean over all finished quantity jobs where none of its group
    finished yet, also for the ``unseen`` jobs generate jobs will add), divided by the measured
    concurrency (wall seconds done per second lately)."""
    if concurrency <= 0:
        return None
    timed = sum(n for key, (_, n, _) in groups.items() if key[0] != GENERATE)
    overall = (
        sum(w for key, (_, _, w) in groups.items() if key[0] != GENERATE) / timed if timed else None
    )
    work = 0.0
    for _key, (left, n, wall) in groups.items():
        if not left:
            continue
        mean = wall / n if n else overall
        if mean is None:
            return None
        work += left * mean
    if unseen > 0:
        if overall is None:
            return None
        work += unseen * overall
    return work / concurrency


def format_duration(seconds: float | None) -> str:
    """``1h02m`` / ``3m05s`` / ``12s``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def progress_line(p: Progress) -> str:
    """One line: ``done/total (pct) running, rate, ETA``.

    While generate jobs are still adding quantity jobs the line names the expected final count
    (``~N expected``) and the percentage and ETA refer to it.
    """
    expected = p.projected_total if p.projected_total is not None else p.total
    pct = 100.0 * p.finished / expected if expected else 100.0
    if not p.rate_per_s:
        rate = "rate ?"
    elif p.rate_per_s >= 1:
        rate = f"{p.rate_per_s:.1f} jobs/s"
    else:
        rate = f"{60 * p.rate_per_s:.1f} jobs/min"
    if p.generating and p.projected_total is None:
        outlook = f", {p.generating} generate jobs to run first"
        eta = "ETA ? (known once a generate job is done)"
    else:
        outlook = f" (~{p.projected_total} expected after generation)" if p.generating else ""
        eta = f"ETA {format_duration(p.eta_s if p.remaining > 0 else 0)}"
    return (
        f"{p.finished}/{p.total} jobs finished{outlook} ({pct:.1f}%), {p.running} running, "
        f"{rate}, {eta}"
    )


def _table(rows: dict[str, dict[str, int]], title: str) -> list[str]:
    states = [s for s in ALL_STATES if any(r.get(s) for r in rows.values())] or ["done"]
    width = max([len(title), *map(len, rows)])
    lines = [f"{title:<{width}}  " + "  ".join(f"{s:>14}" for s in states)]
    for name in sorted(rows):
        lines.append(
            f"{name:<{width}}  " + "  ".join(f"{rows[name].get(s, 0):>14}" for s in states)
        )
    return lines


def status_summary(store: JobStore, failures: int = 5) -> dict[str, Any]:
    """What ``atlas status`` knows, as data (``atlas status --json`` prints it)."""
    # One grouped scan of the (kind, quantity, algorithm, status) index answers the status
    # totals, the per-kind counts for the projection and the per-algorithm table.
    per_algorithm = store.counts_by("kind", "quantity", "algorithm")
    by_kind = _by_kind(per_algorithm)
    counts = dict.fromkeys(ALL_STATES, 0)
    for per in by_kind.values():
        for status, n in per.items():
            counts[status] = counts.get(status, 0) + n
    p = progress(store, counts, by_kind=by_kind)
    by_family: dict[str, dict[str, int]] = {}
    for family, status, n in store.counts_by("family"):
        by_family.setdefault(family or "-", {})[status] = int(n)
    by_alg: dict[str, dict[str, int]] = {}
    for kind, quantity, algorithm, status, n in per_algorithm:
        name = f"{quantity}/{algorithm}" if quantity else kind
        by_alg.setdefault(name, {})[status] = by_alg.get(name, {}).get(status, 0) + int(n)
    return {
        "counts": counts,
        "progress": {
            "finished": p.finished,
            "total": p.total,
            "expected_total": p.projected_total,
            "running": p.running,
            "generating": p.generating,
            "rate_per_s": p.rate_per_s,
            "eta_s": p.eta_s if p.remaining > 0 else 0.0,
        },
        "by_family": by_family,
        "by_algorithm": by_alg,
        "recent_failures": store.recent_failures(failures),
        "searches": summaries(start_states(store)) if SEARCH in by_kind else [],
        "_progress": p,
    }


def status_report(store: JobStore, failures: int = 5) -> str:
    """The text ``atlas status`` prints."""
    summary = status_summary(store, failures)
    counts = summary["counts"]
    lines = [
        "jobs by status: " + ", ".join(f"{s} {counts[s]}" for s in ALL_STATES if counts[s])
        if sum(counts.values())
        else "jobs by status: none (run `atlas enqueue PRESET`)"
    ]
    if summary["progress"]["total"]:
        lines.append("progress: " + progress_line(summary["_progress"]))
    if summary["by_family"]:
        lines += ["", *_table(summary["by_family"], "family")]
    if summary["by_algorithm"]:
        lines += ["", *_table(summary["by_algorithm"], "quantity/algorithm")]
    if summary["recent_failures"]:
        lines += ["", "recent failures:"]
        lines += [_failure_line(f) for f in summary["recent_failures"]]
    if summary["searches"]:
        lines += ["", "searches:"]
        lines += [_search_line(s) for s in summary["searches"]]
    return "\n".join(lines)


def _search_line(s: dict[str, Any]) -> str:
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.10f}"

    sizes = ",".join(str(v) for k, v in sorted(s["space"].items()) if k in ("facets", "k", "l"))
    return (
        f"  {s['search']} [{s['space']['space']}:{sizes}]: {s['finished']}/{s['starts']} starts"
        f" done, {s['jobs']} jobs, {s['trials']} trials, best {ratio(s['best_ratio'])},"
        f" best verified {ratio(s['best_verified_ratio'])}"
        + (f", {s['failed']} failed" if s["failed"] else "")
    )


def _failure_line(f: dict[str, Any]) -> str:
    what = f"{f['quantity']}/{f['algorithm']}" if f["quantity"] else f["kind"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(f["finished_at"]))
    reason = f"{f['error_type'] or '?'}: {(f['error_message'] or '').splitlines()[0] if f['error_message'] else ''}"
    return f"  job {f['id']} {what} [{f['family'] or '-'}] {f['status']} at {when}: {reason[:160]}"
