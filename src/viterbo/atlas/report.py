"""The benchmark report of an export: ``benchmark/summary.json``, ``report.md`` and plots.

It answers, with numbers: time per family x algorithm (median, p95, max) and its growth with
the facet count; total build time and worker utilisation; every failure / timeout /
not-applicable / skipped class with counts and one example id; agreement between the exact
capacity algorithms (max relative difference per pair and the disagreements); the systolic
ratio per family and the top-10 polytopes by systolic ratio.

Everything is computed from the per-job log (:func:`viterbo.atlas.export.rows.job_log`) and the
dataset rows, sorted, so a re-export of the same database gives the same report apart from
the timestamps-derived build figures.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from viterbo.atlas.export.rows import column_name
from viterbo.atlas.jobs import polytope_key
from viterbo.invariants import registry
from viterbo.invariants.certified import AGREEMENT_RTOL, CONFIRMED, LEVELS, SINGLE
from viterbo.invariants.systolic import HKO_SYSTOLIC_RATIO

# Spectra of a symplectic image and its base: their values agree to this (the listed
# representatives of a degenerate family may differ by more, see symplectic_invariance).
SPECTRUM_RTOL = 1e-6
TOP_SYSTOLIC = 10
MAX_LISTED = 50
# Statuses whose reasons are grouped into classes (done jobs have none).
REASON_STATUSES = ("failed", "timed_out", "not_applicable", "skipped")


def job_name(record: dict[str, Any]) -> str:
    """``quantity/algorithm`` of a quantity job, the kind (``generate``) otherwise."""
    return (
        f"{record['quantity']}/{record['algorithm']}"
        if record.get("quantity")
        else str(record["kind"])
    )


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` in [0, 1] of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def timing(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Job count, status counts and wall-time statistics of ``records``."""
    records = list(records)
    walls = sorted(float(r["wall_s"]) for r in records if r.get("wall_s") not in (None, ""))
    status: dict[str, int] = defaultdict(int)
    for r in records:
        status[r["status"]] += 1
    peaks = [float(r["peak_mb"]) for r in records if r.get("peak_mb") not in (None, "")]
    return {
        "jobs": len(records),
        "status": dict(sorted(status.items())),
        "wall_s_median": statistics.median(walls) if walls else None,
        "wall_s_p90": percentile(walls, 0.90),
        "wall_s_p95": percentile(walls, 0.95),
        "wall_s_max": walls[-1] if walls else None,
        "wall_s_total": sum(walls),
        "peak_mb_max": max(peaks, default=None),
    }


def reason_class(message: str) -> str:
    """A message with its numbers and facet indices blanked, so equal causes group together."""
    text = re.sub(r"F_\d+ ∩ F_\d+", "F_i ∩ F_j", message)
    text = re.sub(r"n_\d+", "n_i", text)
    return re.sub(r"-?\d+(\.\d+)?(e-?\d+)?", "N", text)[:160]


def status_classes(log: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per non-done status: classes ``(what, error type, reason)`` with count and one example."""
    out: dict[str, list[dict[str, Any]]] = {}
    for status in REASON_STATUSES:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in log:
            if r["status"] == status:
                groups[
                    (job_name(r), r.get("error_type") or "", reason_class(r.get("reason") or ""))
                ].append(r)
        classes = []
        for (what, etype, cls), rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            first = min(rs, key=lambda r: (str(r["polytope_id"]), r["job_id"]))
            classes.append(
                {
                    "what": what,
                    "error_type": etype,
                    "reason_class": cls,
                    "count": len(rs),
                    "example_id": first["polytope_id"],
                    "example_reason": first.get("reason") or "",
                    "families": sorted({r["family"] or "-" for r in rs}),
                }
            )
        out[status] = classes
    return out


def build_figures(log: list[dict[str, Any]]) -> dict[str, Any]:
    """Total build time (first start to last finish) and worker utilisation.

    Utilisation = summed job wall time / (build span x number of workers), with the workers
    counted as the distinct lease owners.  Derived from timestamps: differs between builds.
    """
    started = [float(r["started_at"]) for r in log if r.get("started_at") not in (None, "")]
    finished = [
        float(r["finished_at"])
        for r in log
        if r.get("finished_at") not in (None, "") and r.get("started_at") not in (None, "")
    ]
    owners = sorted({r["lease_owner"] for r in log if r.get("lease_owner")})
    busy = sum(float(r["wall_s"]) for r in log if r.get("wall_s") not in (None, ""))
    if not started or not finished:
        return {
            "build_seconds": None,
            "workers": len(owners),
            "busy_seconds": busy,
            "utilisation": None,
        }
    span = max(finished) - min(started)
    util = busy / (span * len(owners)) if span > 0 and owners else None
    return {
        "build_seconds": span,
        "workers": len(owners),
        "busy_seconds": busy,
        "utilisation": util,
        "jobs_run": sum(1 for r in log if r.get("started_at") not in (None, "")),
    }


def growth(log: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per quantity/algorithm and facet count: jobs run, median and max wall seconds."""
    groups: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in log:
        if (
            r.get("quantity")
            and r.get("wall_s") not in (None, "")
            and r.get("num_facets") not in (None, "")
        ):
            groups[job_name(r)][int(r["num_facets"])].append(float(r["wall_s"]))
    return {
        name: {
            str(f): {"jobs": len(ws), "wall_s_median": statistics.median(ws), "wall_s_max": max(ws)}
            for f, ws in sorted(by_f.items())
        }
        for name, by_f in sorted(groups.items())
    }


def agreement(
    rows: list[dict[str, Any]], capacity_algs: list[str], exact: set[str] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Max relative difference per pair of exact capacity algorithms, and the disagreements."""
    algs = [a for a in capacity_algs if exact is None or a in exact]
    pairs: dict[str, Any] = {}
    disagreements: list[dict[str, Any]] = []
    for i, a in enumerate(algs):
        for b in algs[i + 1 :]:
            ca, cb = f"capacity_{column_name(a)}", f"capacity_{column_name(b)}"
            both = [
                (r["id"], r[ca], r[cb])
                for r in rows
                if r.get(ca) is not None and r.get(cb) is not None
            ]
            if not both:
                continue
            diffs = [(pid, x, y, _relative(x, y)) for pid, x, y in both]
            bad = [d for d in diffs if d[3] > AGREEMENT_RTOL]
            worst = max(diffs, key=lambda d: d[3])
            pairs[f"{a} vs {b}"] = {
                "polytopes": len(both),
                "max_relative_difference": worst[3],
                "worst_id": worst[0],
                "disagreements": len(bad),
            }
            disagreements += [
                {"id": pid, "pair": f"{a} vs {b}", a: x, b: y, "relative_difference": d}
                for pid, x, y, d in bad
            ]
    disagreements.sort(key=lambda d: (-d["relative_difference"], d["id"], d["pair"]))
    return pairs, disagreements


def systolic(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Systolic ratio per family (count, min, median, max, how many > 1) and the top 10 rows."""
    per_family: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.get("systolic_ratio") is not None:
            per_family[r["family"]].append(float(r["systolic_ratio"]))
    stats = {
        f: {
            "polytopes": len(v),
            "min": min(v),
            "median": statistics.median(v),
            "max": max(v),
            "above_one": sum(x > 1 + 1e-9 for x in v),
        }
        for f, v in sorted(per_family.items())
    }
    # Polygons are left out of the ranking: in dimension 2 the ratio is identically 1.
    ranked = sorted(
        (r for r in rows if r.get("systolic_ratio") is not None and r.get("dimension", 4) > 2),
        key=lambda r: (-float(r["systolic_ratio"]), r["id"]),
    )
    top = [
        {
            "id": r["id"],
            "family": r["family"],
            "params": r["params"],
            "systolic_ratio": r["systolic_ratio"],
            "capacity": r["capacity"],
            "volume": r["volume"],
            "capacity_algorithm": r["capacity_algorithm"],
            "capacity_certificate": r.get("capacity_certificate"),
            "num_facets": r["num_facets"],
        }
        for r in ranked[:TOP_SYSTOLIC]
    ]
    return stats, top


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def symplectic_invariance(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each ``symplectic-image`` row against its base polytope's row (both in the snapshot).

    Volume, capacity and action spectrum are symplectic invariants, so every difference beyond
    rounding is a bug in one of the two computations; a spectrum may also differ where a
    degenerate family of orbits has more than ``k`` members (the listed representatives vary).
    """
    by_id = {r["id"]: r for r in rows}
    out: dict[str, Any] = {"pairs": 0}
    worst: dict[str, tuple[float, str]] = {}
    compared: dict[str, int] = defaultdict(int)
    spectra_differ: list[str] = []
    for r in rows:
        if r["family"] != "symplectic-image":
            continue
        params = json.loads(r["params"]) if isinstance(r["params"], str) else r["params"]
        # The ids hash the parameters as the preset spelled them (defaults: the family schema's).
        base = by_id.get(
            polytope_key(
                params["base_family"], params.get("base_params", {}), params.get("base_index", 0)
            )
        )
        if base is None:
            continue
        out["pairs"] += 1
        for column in ("volume", "capacity"):
            if r.get(column) is not None and base.get(column) is not None:
                compared[column] += 1
                diff = _relative(float(r[column]), float(base[column]))
                if diff >= worst.get(column, (-1.0, ""))[0]:
                    worst[column] = (diff, r["id"])
        a, b = r.get("spectrum"), base.get("spectrum")
        if a and b:
            compared["spectrum"] += 1
            if len(a) != len(b) or any(
                _relative(x, y) > SPECTRUM_RTOL for x, y in zip(a, b, strict=True)
            ):
                spectra_differ.append(r["id"])
    for column in ("volume", "capacity"):
        diff, pid = worst.get(column, (None, None))
        out[column] = {
            "compared": compared[column],
            "max_relative_difference": diff,
            "worst_id": pid,
        }
    out["spectrum"] = {
        "compared": compared["spectrum"],
        "differ": len(spectra_differ),
        "differing_ids": sorted(spectra_differ)[:MAX_LISTED],
    }
    return out


def certificate_levels(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many rows carry each certificate level (``none``: no certified capacity)."""
    counts = dict.fromkeys(LEVELS, 0)
    for r in rows:
        level = r.get("capacity_certificate") or "none"
        counts[level] = counts.get(level, 0) + 1
    return counts


def single_certificates(
    rows: list[dict[str, Any]], capacity_algs: list[str], exact: set[str] | None = None
) -> dict[str, dict[str, int]]:
    """For ``single`` rows: per publishing algorithm, why each other exact algorithm gave nothing.

    ``{"haim-kislev": {"reeb not_applicable": 310, "billiard not_applicable": 310}, ...}``, from
    the ``status_*`` columns (``done`` there means its value did not verify or was not exact).
    """
    algs = [a for a in capacity_algs if exact is None or a in exact]
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r.get("capacity_certificate") != SINGLE:
            continue
        chosen = r.get("capacity_algorithm") or "-"
        out[chosen]["rows"] += 1
        for a in algs:
            if a != chosen:
                out[chosen][f"{a} {r.get(f'status_{column_name(a)}') or 'missing'}"] += 1
    return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}


def unconfirmed_high_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose systolic ratio exceeds HK-O's without a ``confirmed`` capacity, largest first.

    Such a ratio would be a discovery, so it is only claimed when two independent exact
    algorithms agree; otherwise it is listed here, at the top of the report.
    """
    threshold = HKO_SYSTOLIC_RATIO * (1 + AGREEMENT_RTOL)
    high = [
        r
        for r in rows
        if r.get("systolic_ratio") is not None
        and float(r["systolic_ratio"]) > threshold
        and r.get("capacity_certificate") != CONFIRMED
    ]
    high.sort(key=lambda r: (-float(r["systolic_ratio"]), r["id"]))
    return [
        {
            "id": r["id"],
            "family": r["family"],
            "params": r["params"],
            "systolic_ratio": r["systolic_ratio"],
            "capacity": r.get("capacity"),
            "capacity_algorithm": r.get("capacity_algorithm"),
            "capacity_certificate": r.get("capacity_certificate"),
        }
        for r in high
    ]


def _exact_algorithms() -> set[str] | None:
    return {a.name for a in registry.algorithms("capacity") if a.exact}


def summarise(
    log: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    capacity_algs: list[str],
    *,
    policy: dict[str, Any] | None = None,
    drift: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the report shows, as JSON-ready data (``summary.json``); ``drift`` lists jobs
    that ran under other limits than ``policy`` states (``export.rows.policy_drift``)."""
    by_alg: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_family_alg: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in log:
        by_alg[job_name(r)].append(r)
        by_family_alg[r["family"] or "-"][job_name(r)].append(r)
    classes = status_classes(log)
    pairs, disagreements = agreement(rows, capacity_algs, _exact_algorithms())
    sys_stats, top = systolic(rows)
    certified_by: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.get("capacity_algorithm"):
            certified_by[r["capacity_algorithm"]] += 1
    timed = [r for r in log if r.get("wall_s") not in (None, "")]
    slowest = sorted(timed, key=lambda r: (-float(r["wall_s"]), r["job_id"]))[:10]
    brief = (
        "job_id",
        "polytope_id",
        "family",
        "kind",
        "quantity",
        "algorithm",
        "num_facets",
        "wall_s",
        "status",
        "error_type",
        "reason",
    )
    counts: dict[str, int] = defaultdict(int)
    for r in log:
        counts[r["status"]] += 1
    return {
        "jobs": len(log),
        "polytopes": len(rows),
        "status": dict(sorted(counts.items())),
        "build": build_figures(log),
        "per_algorithm": {k: timing(v) for k, v in sorted(by_alg.items())},
        "per_family_algorithm": {
            f: {k: timing(v) for k, v in sorted(algs.items())}
            for f, algs in sorted(by_family_alg.items())
        },
        "growth_with_facets": growth(log),
        "slowest_jobs": [{k: r.get(k) for k in brief} for r in slowest],
        "status_classes": classes,
        # Flat lists kept for scripts that read them (first MAX_LISTED of each).
        "failures": {
            "count": counts.get("failed", 0),
            "first": [{k: r.get(k) for k in brief} for r in log if r["status"] == "failed"][
                :MAX_LISTED
            ],
        },
        "timeouts": {
            "count": counts.get("timed_out", 0),
            "first": [{k: r.get(k) for k in brief} for r in log if r["status"] == "timed_out"][
                :MAX_LISTED
            ],
        },
        "capacity_agreement": pairs,
        "disagreements": {"count": len(disagreements), "first": disagreements[:MAX_LISTED]},
        "certified_capacity_by_algorithm": dict(sorted(certified_by.items())),
        "certificate_levels": certificate_levels(rows),
        "single_certificates": single_certificates(rows, capacity_algs, _exact_algorithms()),
        "unconfirmed_high_ratios": unconfirmed_high_ratios(rows),
        "polytopes_without_certified_capacity": sum(1 for r in rows if r.get("capacity") is None),
        "systolic_ratio_per_family": sys_stats,
        "symplectic_invariance": symplectic_invariance(rows),
        "top_systolic": top,
        "policy": policy or {},
        "policy_drift": drift or {},
    }


# ------------------------------------------------------------------------------ markdown


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _timing_table(rows: dict[str, dict[str, Any]], first: str) -> list[str]:
    lines = [
        f"| {first} | jobs | status | median s | p95 s | max s | total s | peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        st = ", ".join(f"{k} {v}" for k, v in s["status"].items())
        lines.append(
            f"| {name} | {s['jobs']} | {st} | {_fmt(s['wall_s_median'])} | {_fmt(s['wall_s_p95'])} | "
            f"{_fmt(s['wall_s_max'])} | {_fmt(s['wall_s_total'])} | {_fmt(s['peak_mb_max'])} |"
        )
    return lines


def _limit(value: float) -> str:
    """A policy limit as written: whole numbers in full (``max_paths 3000000``, not 3e+06)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def drift_lines(drift: dict[str, Any]) -> list[str]:
    """A warning per algorithm whose jobs ran under other limits than the stated policy."""

    def shown(limits: dict[str, Any]) -> str:
        if limits.get("skipped"):
            return "a policy skip"
        return ", ".join(f"{k} {_limit(v)}" for k, v in sorted(limits.items())) or "no limits"

    return [
        f"- **Warning:** {d['jobs']} `{key}` jobs ran with {shown(d['as_run'])}, not the "
        f"policy's {shown(d['policy'])} (they were created under an earlier policy; enqueue a "
        "fresh database to rebuild them under this one)."
        for key, d in sorted(drift.items())
    ]


def policy_lines(policy: dict[str, Any], drift: dict[str, Any] | None = None) -> list[str]:
    warnings = [*drift_lines(drift), ""] if drift else []
    if not policy:
        return [*warnings, "No run policy: every applicable algorithm ran on every polytope."]
    lines = [
        *warnings,
        'Deliberate deviations from "every applicable algorithm on every polytope" (the preset\'s',
        "run policy; jobs it skips are recorded with status `skipped` and counted below):",
        "",
    ]
    default = policy.get("default", {})
    for scope in sorted(policy, key=lambda k: (k != "default", k)):
        rules = policy[scope]
        # Besides the default, show only what differs from it.
        shown = (
            rules if scope == "default" else {k: v for k, v in rules.items() if default.get(k) != v}
        )
        dropped = [] if scope == "default" else sorted(set(default) - set(rules))
        text = "; ".join(
            f"`{key}`: " + ", ".join(f"{k} {_limit(v)}" for k, v in sorted(lim.items()))
            for key, lim in sorted(shown.items())
        )
        text += "".join(f"; `{key}`: no limits" for key in dropped)
        label = "default" if scope == "default" else f"`{_md(scope)}` (instead)"
        lines.append(f"- {label}: {text or 'same as default'}")
    lines += [
        "",
        "`max_facets`: on polytopes with more facets the job is recorded `skipped`; "
        "`max_index`: only polytopes 0 .. max_index - 1 of each family and parameters run "
        "(the rest `skipped`); `time_limit_s`: the job's time budget (then `timed_out`); "
        "`max_paths`: a work budget of the reeb searches, at most this many expanded paths; "
        "`max_cycles`: haim-kislev's work budget, at most this many facet cycles, counted "
        "before any is solved (both then `timed_out`, at the same point on every machine).",
    ]
    return lines


def report_markdown(summary: dict[str, Any], plots: dict[str, str]) -> str:
    """The text of ``report.md``."""
    b = summary["build"]
    st = summary["status"]
    lines = [
        "# Benchmark report",
        "",
        f"{summary['polytopes']} polytopes, {summary['jobs']} jobs: "
        + ", ".join(f"{k} {v}" for k, v in st.items())
        + ".",
        f"{summary['polytopes_without_certified_capacity']} polytopes without a certified capacity; "
        f"{summary['disagreements']['count']} disagreements between exact capacity algorithms.",
        "",
        *_high_ratio_lines(summary.get("unconfirmed_high_ratios") or []),
        "## Build",
        "",
        f"- total build time (first job start to last job end): {_fmt(b['build_seconds'])} s",
        f"- workers: {b['workers']}; summed job wall time {_fmt(b['busy_seconds'])} s; "
        f"utilisation {_fmt(None if b['utilisation'] is None else 100 * b['utilisation'])} %",
        "  (job wall time / (build time x workers); the rest is claiming, recording and forking)",
        "",
        "## Run policy",
        "",
        *policy_lines(summary.get("policy") or {}, summary.get("policy_drift")),
        "",
        "## Time per algorithm",
        "",
        *_timing_table(summary["per_algorithm"], "quantity/algorithm"),
        "",
    ]
    if "growth" in plots:
        lines += [f"![median wall time vs facet count]({plots['growth']})", ""]
    if "wall_times" in plots:
        lines += [f"![wall time per algorithm]({plots['wall_times']})", ""]
    lines += ["## Time per family x algorithm", ""]
    for family, algs in summary["per_family_algorithm"].items():
        lines += [f"### {family}", "", *_timing_table(algs, "quantity/algorithm"), ""]
    lines += ["## Growth with facet count (capacity and spectrum: median / max wall s, jobs)", ""]
    growth_rows = {
        k: v
        for k, v in summary["growth_with_facets"].items()
        if k.startswith(("capacity/", "spectrum/"))
    }
    facets = sorted({int(f) for g in growth_rows.values() for f in g})
    if facets:
        lines += [
            "| quantity/algorithm | " + " | ".join(str(f) for f in facets) + " |",
            "|---|" + "---|" * len(facets),
        ]
        for name, g in growth_rows.items():
            cells = [
                f"{_fmt(g[str(f)]['wall_s_median'])} / {_fmt(g[str(f)]['wall_s_max'])} ({g[str(f)]['jobs']})"
                if str(f) in g
                else ""
                for f in facets
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Slowest jobs",
        "",
        "| job | polytope | what | facets | status | wall s |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["slowest_jobs"]:
        lines.append(
            f"| {r['job_id']} | `{r['polytope_id']}` | {job_name(r)} | {r['num_facets']} | {r['status']} | {_fmt(r['wall_s'])} |"
        )
    titles = {
        "failed": "Failures",
        "timed_out": "Timeouts",
        "not_applicable": "Not applicable",
        "skipped": "Skipped by policy",
    }
    for status, title in titles.items():
        classes = summary["status_classes"].get(status, [])
        lines += [
            "",
            f"## {title} ({sum(c['count'] for c in classes)} jobs, {len(classes)} classes)",
            "",
        ]
        if not classes:
            lines.append("None.")
            continue
        lines += ["| what | count | families | reason | example id |", "|---|---|---|---|---|"]
        for c in classes:
            reason = (
                f"{c['error_type']}: {c['example_reason']}"
                if c["error_type"]
                else c["example_reason"]
            )
            lines.append(
                f"| {c['what']} | {c['count']} | {', '.join(c['families'])} | {_md(reason[:200])} | `{c['example_id']}` |"
            )
    lines += ["", "## Agreement between exact capacity algorithms", ""]
    if summary["capacity_agreement"]:
        lines += [
            f"| pair | polytopes | max rel. diff | worst id | disagreements (> {AGREEMENT_RTOL:g}) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {v['polytopes']} | {v['max_relative_difference']:.3g} | `{v['worst_id']}` | {v['disagreements']} |"
            for k, v in summary["capacity_agreement"].items()
        ]
    else:
        lines.append("No polytope has two capacity values to compare.")
    dis = summary["disagreements"]
    lines += ["", f"Disagreements: {dis['count']}."]
    for d in dis["first"]:
        lines.append(
            f"- `{d['id']}` {d['pair']}: relative difference {d['relative_difference']:.3g}"
        )
    lines += _invariance_lines(summary.get("symplectic_invariance") or {})
    lines += ["", "## Certified capacity", ""]
    lines += [
        f"- published from {k}: {v}" for k, v in summary["certified_capacity_by_algorithm"].items()
    ] or ["- none"]
    lines += _level_lines(
        summary.get("certificate_levels") or {}, summary.get("single_certificates") or {}
    )
    lines += ["", "## Systolic ratio per family", ""]
    if summary["systolic_ratio_per_family"]:
        lines += ["| family | polytopes | min | median | max | > 1 |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {f} | {s['polytopes']} | {s['min']:.6g} | {s['median']:.6g} | {s['max']:.6g} | {s['above_one']} |"
            for f, s in summary["systolic_ratio_per_family"].items()
        ]
        if "systolic" in plots:
            lines += ["", f"![systolic ratio per family]({plots['systolic']})"]
        lines += [
            "",
            f"### Top {TOP_SYSTOLIC} by systolic ratio (dimension 4; polygons have ratio 1)",
            "",
            "| # | id | family | params | facets | systolic ratio | capacity | from | certificate |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(summary["top_systolic"], 1):
            lines.append(
                f"| {i} | `{r['id']}` | {r['family']} | `{_md(r['params'])}` | {r['num_facets']} | "
                f"{r['systolic_ratio']:.9g} | {_fmt(r['capacity'])} | {r['capacity_algorithm']} | "
                f"{_fmt(r.get('capacity_certificate'))} |"
            )
    else:
        lines.append("No systolic ratios.")
    return "\n".join(lines) + "\n"


def _high_ratio_lines(high: list[dict[str, Any]]) -> list[str]:
    """The report's first section: ratios above HK-O that no two exact algorithms confirm."""
    lines = [
        f"## Unconfirmed high ratios (systolic ratio > {HKO_SYSTOLIC_RATIO:.10f}, level not confirmed)",
        "",
    ]
    if not high:
        return [
            *lines,
            "None: every ratio above Haim-Kislev--Ostrover's is confirmed by two independent exact "
            "algorithms.",
            "",
        ]
    lines += [
        f"{len(high)} polytopes. Their capacity rests on one exact algorithm or on disagreeing ones, so "
        "the ratio is not a claim (MATH.md §4).",
        "",
        "| id | family | params | systolic ratio | capacity | from | certificate |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r['id']}` | {r['family']} | `{_md(r['params'])}` | {r['systolic_ratio']:.10g} | "
        f"{_fmt(r['capacity'])} | {_fmt(r['capacity_algorithm'])} | {_fmt(r['capacity_certificate'])} |"
        for r in high[:MAX_LISTED]
    ]
    return [*lines, ""]


def _level_lines(levels: dict[str, int], single: dict[str, dict[str, int]]) -> list[str]:
    lines = ["", "Certificate levels (MATH.md §4):", ""]
    lines += [
        f"- `{level}`: {levels.get(level, 0)} -- {meaning}" for level, meaning in LEVELS.items()
    ]
    if levels.get("none"):
        lines.append(f"- no certified capacity: {levels['none']}")
    for algorithm, why in single.items():
        detail = ", ".join(f"{k} {v}" for k, v in why.items() if k != "rows")
        lines.append(
            f"- `single` from {algorithm} ({why.get('rows', 0)}): the others -- {detail or 'none'}"
        )
    return lines


def _invariance_lines(inv: dict[str, Any]) -> list[str]:
    lines = ["", "## Symplectic invariance (images vs their base polytopes)", ""]
    if not inv.get("pairs"):
        return [*lines, "No symplectic image with its base polytope in the snapshot."]
    lines += [
        f"{inv['pairs']} image/base pairs.",
        "",
        "| invariant | pairs compared | max rel. diff | worst id |",
        "|---|---|---|---|",
    ]
    for column in ("volume", "capacity"):
        c = inv[column]
        diff = (
            "-" if c["max_relative_difference"] is None else f"{c['max_relative_difference']:.3g}"
        )
        worst = "-" if c["worst_id"] is None else f"`{c['worst_id']}`"
        lines.append(f"| {column} | {c['compared']} | {diff} | {worst} |")
    spectrum = inv["spectrum"]
    lines += [
        "",
        f"Spectra compared: {spectrum['compared']}; equal (to {SPECTRUM_RTOL:g}): "
        f"{spectrum['compared'] - spectrum['differ']}; different: {spectrum['differ']}"
        + (
            f" ({', '.join(f'`{i}`' for i in spectrum['differing_ids'])})"
            if spectrum["differ"]
            else ""
        )
        + ". A degenerate family of orbits with more than k members lists different "
        "representatives; any other difference is a bug.",
    ]
    return lines


def write_report(
    benchmark_dir: Path,
    summary: dict[str, Any],
    log: list[dict[str, Any]],
    rows: list[dict[str, Any]] | None = None,
) -> Path:
    """Write ``report.md`` and its PNG plots into ``benchmark_dir``; return the report's path."""
    plots: dict[str, str] = {}
    for key, draw in (
        ("wall_times", lambda: plot_wall_times(benchmark_dir, log)),
        ("growth", lambda: plot_growth(benchmark_dir, summary)),
        ("systolic", lambda: plot_systolic(benchmark_dir, rows or [])),
    ):
        path = draw()
        if path is not None:
            plots[key] = path.name
    path = benchmark_dir / "report.md"
    path.write_text(report_markdown(summary, plots))
    return path


# --------------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    try:
        import matplotlib  # lazy: plots only; the backend must be chosen before pyplot loads

        matplotlib.use("Agg")  # no display on workers/CI
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency, but plots are optional
        return None
    return plt


def _save(fig: Any, path: Path) -> Path:
    # No software/date metadata: the same data gives the same bytes.
    fig.savefig(path, dpi=90, metadata={"Software": None})
    return path


def plot_wall_times(benchmark_dir: Path, log: list[dict[str, Any]]) -> Path | None:
    """``wall_times.png``: wall seconds per job, one box per quantity/algorithm (log scale)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in log:
        if r.get("wall_s") not in (None, "") and float(r["wall_s"]) > 0:
            groups[job_name(r)].append(float(r["wall_s"]))
    plt = _pyplot()
    if not groups or plt is None:
        return None
    names = sorted(groups)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    ax.boxplot([groups[n] for n in names], orientation="horizontal", tick_labels=names)
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds per job")
    fig.tight_layout()
    path = _save(fig, benchmark_dir / "wall_times.png")
    plt.close(fig)
    return path


def plot_growth(benchmark_dir: Path, summary: dict[str, Any]) -> Path | None:
    """``growth.png``: median (line) and max (dots) wall seconds vs facet count per algorithm."""
    data = {
        k: v
        for k, v in summary["growth_with_facets"].items()
        if k.startswith(("capacity/", "spectrum/"))
    }
    plt = _pyplot()
    if not data or plt is None:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, by_f in data.items():
        fs = sorted(int(f) for f in by_f)
        line = ax.plot(
            fs, [max(by_f[str(f)]["wall_s_median"], 1e-4) for f in fs], marker="o", label=name
        )[0]
        ax.scatter(
            fs,
            [max(by_f[str(f)]["wall_s_max"], 1e-4) for f in fs],
            marker="x",
            color=line.get_color(),
        )
    ax.set_yscale("log")
    ax.set_xlabel("facets")
    ax.set_ylabel("wall seconds (o median, x max)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = _save(fig, benchmark_dir / "growth.png")
    plt.close(fig)
    return path


def plot_systolic(benchmark_dir: Path, rows: list[dict[str, Any]]) -> Path | None:
    """``systolic.png``: the systolic ratios of each family (points over a box), line at 1."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r.get("systolic_ratio") is not None:
            groups[r["family"]].append(float(r["systolic_ratio"]))
    plt = _pyplot()
    if not groups or plt is None:
        return None
    names = sorted(groups)
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.5))
    ax.boxplot(
        [groups[n] for n in names], orientation="horizontal", tick_labels=names, showfliers=False
    )
    for i, n in enumerate(names, 1):
        vals = sorted(groups[n])
        jitter = [i + 0.25 * (((k * 0.618) % 1.0) - 0.5) for k in range(len(vals))]  # deterministic
        ax.scatter(vals, jitter, s=6, alpha=0.5)
    ax.axvline(1.0, color="red", linewidth=0.8)
    ax.set_xlabel("systolic ratio c^n / (n! vol)")
    fig.tight_layout()
    path = _save(fig, benchmark_dir / "systolic.png")
    plt.close(fig)
    return path
