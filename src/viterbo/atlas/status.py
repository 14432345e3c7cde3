"""`atlas status`: counts per status / family / algorithm, progress, ETA and recent failures.

Every query is answered from the covering indexes of migration 0002 (no result blobs read).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from viterbo.atlas.models import ALL_STATES, TERMINAL_STATES
from viterbo.atlas.store import JobStore

RATE_WINDOW_SECONDS = 300.0


@dataclass
class Progress:
    """Totals for a progress line."""

    total: int
    finished: int
    running: int
    rate_per_s: float | None
    eta_s: float | None

    @property
    def remaining(self) -> int:
        return self.total - self.finished


def progress(store: JobStore, counts: dict[str, int] | None = None,
             window: float = RATE_WINDOW_SECONDS) -> Progress:
    """Finished / total jobs, recent completion rate and the ETA it implies."""
    counts = counts if counts is not None else store.status_counts()
    total = sum(counts.values())
    finished = sum(counts[s] for s in TERMINAL_STATES)
    recent = store.finished_since(time.time() - window)
    rate = recent / window if recent else None
    eta = (total - finished) / rate if rate else None
    return Progress(total, finished, counts.get("running", 0), rate, eta)


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
    """One line: ``done/total (pct) running, rate, ETA``."""
    pct = 100.0 * p.finished / p.total if p.total else 100.0
    if not p.rate_per_s:
        rate = "rate ?"
    elif p.rate_per_s >= 1:
        rate = f"{p.rate_per_s:.1f} jobs/s"
    else:
        rate = f"{60 * p.rate_per_s:.1f} jobs/min"
    return f"{p.finished}/{p.total} jobs finished ({pct:.1f}%), {p.running} running, {rate}, ETA {format_duration(p.eta_s if p.remaining else 0)}"


def _table(rows: dict[str, dict[str, int]], title: str) -> list[str]:
    states = [s for s in ALL_STATES if any(r.get(s) for r in rows.values())] or ["done"]
    width = max([len(title), *map(len, rows)])
    lines = [f"{title:<{width}}  " + "  ".join(f"{s:>14}" for s in states)]
    for name in sorted(rows):
        lines.append(f"{name:<{width}}  " + "  ".join(f"{rows[name].get(s, 0):>14}" for s in states))
    return lines


def status_report(store: JobStore, failures: int = 5) -> str:
    """The text ``atlas status`` prints."""
    counts = store.status_counts()
    lines = ["jobs by status: " + ", ".join(f"{s} {counts[s]}" for s in ALL_STATES if counts[s]) if sum(counts.values()) else "jobs by status: none (run `atlas enqueue PRESET`)"]
    p = progress(store, counts)
    if p.total:
        lines.append("progress: " + progress_line(p))
    by_family: dict[str, dict[str, int]] = {}
    for family, status, n in store.counts_by("family"):
        by_family.setdefault(family or "-", {})[status] = int(n)
    if by_family:
        lines += ["", *_table(by_family, "family")]
    by_alg: dict[str, dict[str, int]] = {}
    for kind, quantity, algorithm, status, n in store.counts_by("kind", "quantity", "algorithm"):
        name = f"{quantity}/{algorithm}" if quantity else kind
        by_alg.setdefault(name, {})[status] = by_alg.get(name, {}).get(status, 0) + int(n)
    if by_alg:
        lines += ["", *_table(by_alg, "quantity/algorithm")]
    recent = store.recent_failures(failures)
    if recent:
        lines += ["", "recent failures:"]
        lines += [_failure_line(f) for f in recent]
    return "\n".join(lines)


def _failure_line(f: dict[str, Any]) -> str:
    what = f"{f['quantity']}/{f['algorithm']}" if f["quantity"] else f["kind"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(f["finished_at"]))
    reason = f"{f['error_type'] or '?'}: {(f['error_message'] or '').splitlines()[0] if f['error_message'] else ''}"
    return f"  job {f['id']} {what} [{f['family'] or '-'}] {f['status']} at {when}: {reason[:160]}"
