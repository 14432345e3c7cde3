"""`atlas export NAME`: publish the finished polytopes as a Hugging Face ``datasets`` folder.

Layout (DESIGN.md "Export layout")::

    NAME/README.md                 dataset card, YAML ``configs`` -> data/train-*.parquet
    NAME/data/train-*.parquet      one row per polytope (explicit datasets.Features)
    NAME/manifest.json             schema/code version, counts, provenance, content hash
    NAME/benchmark/jobs.csv        every job: timing, memory, status, error type
    NAME/benchmark/summary.json    slow paths, failures, timeouts, algorithm agreement
    NAME/benchmark/report.md       the same for humans (``write_report`` is the hook for plots)

The content hash covers the rows only (canonical JSON), so re-exporting an unchanged database
(or a second build of the same preset) gives the same hash.  The folder is written next to its
destination and renamed into place: readers see the old snapshot or the new one, never half.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, select

from viterbo.atlas.db import REPO_ROOT
from viterbo.atlas.errors import ExportError
from viterbo.atlas.handlers import GENERATE, QUANTITY
from viterbo.atlas.models import DONE, jobs_table, polytopes_table

SCHEMA_VERSION = 1
DEFAULT_EXPORT_ROOT = REPO_ROOT / "artefacts" / "datasets"
SHARD_ROWS = 5000
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
AGREEMENT_RTOL = 1e-6

# Quantities that have their own dataset columns (others appear only in the benchmark log).
VOLUME, CAPACITY, CERTIFIED, SYSTOLIC, SPECTRUM = (
    "volume", "capacity", "certified_capacity", "systolic_ratio", "spectrum")
DEFAULT_VOLUME_ALGORITHMS = ("lawrence", "qhull")
DEFAULT_CAPACITY_ALGORITHMS = ("area-2d", "billiard", "haim-kislev", "reeb", "symplectic-product")


def validate_export_name(name: str) -> str:
    """``name`` if it is a safe folder name (letters, digits, ``.``, ``_``, ``-``; no ``..``)."""
    if not NAME_RE.match(name) or ".." in name:
        raise ExportError(f"invalid export name {name!r}: use letters, digits, '.', '_', '-' (no '/' or '..')")
    return name


def column_name(algorithm: str) -> str:
    """Dataset column suffix for an algorithm name (``haim-kislev`` -> ``haim_kislev``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", algorithm)


# --------------------------------------------------------------------------- reading


def _algorithms(engine: Engine, quantity: str, defaults: Iterable[str]) -> list[str]:
    names = set(defaults)
    try:
        from viterbo.invariants import registry

        names |= {a.name for a in registry.algorithms(quantity)}
    except ImportError:  # pragma: no cover - invariants layer absent
        pass
    j = jobs_table.c
    with engine.connect() as conn:
        names |= {r[0] for r in conn.execute(
            select(j.algorithm).where(j.kind == QUANTITY, j.quantity == quantity).distinct())}
    return sorted(n for n in names if n)


def _read_polytopes(engine: Engine, keys: set[str] | None) -> list[dict[str, Any]]:
    p = polytopes_table.c
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(polytopes_table).order_by(p.key))]
    if keys is not None:
        rows = [r for r in rows if r["key"] in keys]
    return rows


def _read_jobs(engine: Engine, polytope_ids: list[int], generate_keys: set[str] | None) -> list[dict[str, Any]]:
    j = jobs_table.c
    cols = [j.id, j.kind, j.polytope_id, j.family, j.quantity, j.algorithm, j.status, j.attempts,
            j.wall_seconds, j.cpu_seconds, j.peak_rss_mb, j.error_type, j.error_message, j.result,
            j.idempotency_key]
    out: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for start in range(0, len(polytope_ids), 500):
            chunk = polytope_ids[start:start + 500]
            out += [dict(r._mapping) for r in conn.execute(
                select(*cols).where(j.polytope_id.in_(bindparam("ids", expanding=True))), {"ids": chunk})]
        gen = [dict(r._mapping) for r in conn.execute(select(*cols).where(j.kind == GENERATE))]
    if generate_keys is not None:
        gen = [g for g in gen if g["idempotency_key"] in generate_keys]
    return out + gen


# ------------------------------------------------------------------------------ rows


def features(volume_algs: list[str], capacity_algs: list[str]) -> Any:
    """The explicit ``datasets.Features`` of a dataset row."""
    from datasets import Features, List, Value

    f64, matrix = Value("float64"), List(List(Value("float64")))
    spec: dict[str, Any] = {
        "id": Value("string"), "family": Value("string"), "params": Value("string"),
        "index": Value("int64"), "seed": Value("int64"), "dimension": Value("int32"),
        "num_vertices": Value("int32"), "num_facets": Value("int32"),
        "vertices": matrix, "normals": matrix, "offsets": List(f64), "volume": f64,
    }
    for alg in volume_algs:
        spec[f"volume_{column_name(alg)}"] = f64
    for alg in capacity_algs:
        spec[f"capacity_{column_name(alg)}"] = f64
        spec[f"status_{column_name(alg)}"] = Value("string")
    spec.update({
        "capacity": f64, "capacity_algorithm": Value("string"), "systolic_ratio": f64,
        "minimal_action_cycle": matrix, "spectrum": List(f64), "schema_version": Value("int32"),
    })
    return Features(spec)


def _value(result: dict[str, Any] | None) -> float | None:
    if not result:
        return None
    v = result.get("value")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def build_rows(polytopes: list[dict[str, Any]], jobs: list[dict[str, Any]],
               volume_algs: list[str], capacity_algs: list[str]) -> list[dict[str, Any]]:
    """One dataset row per polytope (in ``polytopes`` order)."""
    by_polytope: dict[int, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for job in jobs:
        if job["kind"] == QUANTITY and job["polytope_id"] is not None:
            res = json.loads(job["result"]) if job["result"] and job["status"] == DONE else None
            by_polytope[job["polytope_id"]][(job["quantity"], job["algorithm"])] = {**job, "parsed": res}
    rows = []
    for p in polytopes:
        qjobs = by_polytope.get(p["id"], {})

        def result(q: str, a: str, qjobs: dict = qjobs) -> dict[str, Any] | None:
            job = qjobs.get((q, a))
            return job["parsed"] if job else None

        row: dict[str, Any] = {
            "id": p["key"], "family": p["family"], "params": p["params"], "index": p["index"],
            "seed": p["seed"], "dimension": p["dimension"], "num_vertices": p["num_vertices"],
            "num_facets": p["num_facets"], "vertices": json.loads(p["vertices"]),
            "normals": json.loads(p["normals"]), "offsets": json.loads(p["offsets"]),
        }
        volumes = {a: _value(result(VOLUME, a)) for a in volume_algs}
        row["volume"] = volumes.get("qhull") if volumes.get("qhull") is not None else next(
            (v for v in volumes.values() if v is not None), None)
        for a in volume_algs:
            row[f"volume_{column_name(a)}"] = volumes[a]
        for a in capacity_algs:
            job = qjobs.get((CAPACITY, a))
            row[f"capacity_{column_name(a)}"] = _value(job["parsed"]) if job else None
            row[f"status_{column_name(a)}"] = job["status"] if job else "missing"
        certified = result(CERTIFIED, "certify")
        row["capacity"] = _value(certified)
        row["capacity_algorithm"] = certified.get("algorithm") if certified else None
        row["systolic_ratio"] = _value(result(SYSTOLIC, "formula"))
        row["minimal_action_cycle"] = certified.get("loop") if certified else None
        spectrum = next((j["parsed"] for (q, _), j in sorted(qjobs.items()) if q == SPECTRUM and j["parsed"]), None)
        values = spectrum.get("value") if spectrum else None
        row["spectrum"] = [float(x) for x in values] if isinstance(values, list) else None
        row["schema_version"] = SCHEMA_VERSION
        rows.append(row)
    return rows


def content_hash(rows: list[dict[str, Any]], feature_spec: Any) -> str:
    """sha256 over the feature schema and the canonical JSON of every row, in order."""
    h = hashlib.sha256()
    h.update(json.dumps(feature_spec.to_dict(), sort_keys=True).encode())
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


# ---------------------------------------------------------------------------- writing


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_parquet(rows: list[dict[str, Any]], feats: Any, data_dir: Path) -> list[str]:
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # the CLI prints its own progress; keep logs clean
    data_dir.mkdir(parents=True)
    n_shards = max(1, math.ceil(len(rows) / SHARD_ROWS))
    names = []
    for s in range(n_shards):
        chunk = rows[s * SHARD_ROWS:(s + 1) * SHARD_ROWS]
        columns = {name: [r[name] for r in chunk] for name in feats}
        name = f"train-{s:05d}-of-{n_shards:05d}.parquet"
        Dataset.from_dict(columns, features=feats).to_parquet(str(data_dir / name))
        names.append(name)
    return names


def _dataset_card(name: str, manifest: dict[str, Any], feats: Any) -> str:
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data/train-*.parquet",
        "license: mit",
        "tags:",
        "- symplectic-geometry",
        "- polytopes",
        "---",
        "",
        f"# {name}",
        "",
        "Symplectic invariants of convex polytopes computed by `atlas` (viterbo-atlas): one row",
        "per polytope with its geometry (vertices, unit outer normals, offsets; coordinates",
        "(q1, q2, p1, p2)), volume, EHZ capacity per algorithm with status, the certified capacity,",
        "the systolic ratio c^n/(n! vol), the minimal-action closed characteristic and the low",
        "action spectrum.  Missing values are null (see the per-algorithm `status_*` columns).",
        "",
        "```python",
        "import datasets",
        f'ds = datasets.load_dataset("path/to/{name}", split="train")',
        "```",
        "",
        f"Rows: {manifest['rows']}.  Schema version {SCHEMA_VERSION}.  Content hash `{manifest['content_hash']}`.",
        f"Code version: `{manifest['code_version']}`.  Preset: `{manifest['preset']}`.",
        "",
        "## Columns",
        "",
        *[f"- `{col}`: {feats[col]!r}" for col in feats],
        "",
        "Per-job timings, failures and algorithm agreement: `benchmark/report.md`.",
        "",
    ]
    return "\n".join(lines)


JOB_LOG_COLUMNS = ("job_id", "polytope_id", "family", "kind", "quantity", "algorithm", "num_facets",
                   "status", "attempts", "wall_s", "cpu_s", "peak_mb", "error_type")


def job_log(jobs: list[dict[str, Any]], polytopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per job for ``benchmark/jobs.csv`` (deterministic order)."""
    by_id = {p["id"]: p for p in polytopes}
    out = []
    for job in jobs:
        p = by_id.get(job["polytope_id"])
        pkey = p["key"] if p else job["idempotency_key"].removeprefix("generate:")
        out.append({
            "job_id": job["id"], "polytope_id": pkey, "family": job["family"], "kind": job["kind"],
            "quantity": job["quantity"] or "", "algorithm": job["algorithm"] or "",
            "num_facets": p["num_facets"] if p else "", "status": job["status"],
            "attempts": job["attempts"], "wall_s": job["wall_seconds"], "cpu_s": job["cpu_seconds"],
            "peak_mb": job["peak_rss_mb"], "error_type": job["error_type"] or "",
            "error_message": (job["error_message"] or "").splitlines()[0][:200] if job["error_message"] else "",
        })
    out.sort(key=lambda r: (r["polytope_id"], r["kind"], r["quantity"], r["algorithm"]))
    return out


def summarise(log: list[dict[str, Any]], rows: list[dict[str, Any]], capacity_algs: list[str]) -> dict[str, Any]:
    """Per-algorithm timing and status, slowest jobs, failures, timeouts, agreement."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in log:
        groups[f"{r['quantity']}/{r['algorithm']}" if r["quantity"] else r["kind"]].append(r)
    per_algorithm = {}
    for name, rs in sorted(groups.items()):
        walls = sorted(r["wall_s"] for r in rs if r["wall_s"] is not None)
        status_counts: dict[str, int] = defaultdict(int)
        for r in rs:
            status_counts[r["status"]] += 1
        per_algorithm[name] = {
            "jobs": len(rs), "status": dict(sorted(status_counts.items())),
            "wall_s_median": statistics.median(walls) if walls else None,
            "wall_s_p90": walls[min(len(walls) - 1, int(0.9 * len(walls)))] if walls else None,
            "wall_s_max": walls[-1] if walls else None,
            "wall_s_total": sum(walls) if walls else 0.0,
            "peak_mb_max": max((r["peak_mb"] for r in rs if r["peak_mb"] is not None), default=None),
        }
    timed = [r for r in log if r["wall_s"] is not None]
    slowest = sorted(timed, key=lambda r: -r["wall_s"])[:10]
    failures = [r for r in log if r["status"] == "failed"]
    timeouts = [r for r in log if r["status"] == "timed_out"]
    agreement = {}
    cols = [column_name(a) for a in capacity_algs]
    for i, a in enumerate(cols):
        for b in cols[i + 1:]:
            both = [(r[f"capacity_{a}"], r[f"capacity_{b}"]) for r in rows
                    if r[f"capacity_{a}"] is not None and r[f"capacity_{b}"] is not None]
            if not both:
                continue
            diffs = [abs(x - y) / max(abs(x), abs(y), 1e-300) for x, y in both]
            agreement[f"{capacity_algs[i]} vs {capacity_algs[cols.index(b)]}"] = {
                "polytopes": len(both), "max_relative_difference": max(diffs),
                "disagreements": sum(d > AGREEMENT_RTOL for d in diffs)}
    certified_by: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["capacity_algorithm"]:
            certified_by[r["capacity_algorithm"]] += 1
    brief = ("job_id", "polytope_id", "kind", "quantity", "algorithm", "num_facets", "wall_s", "error_type", "error_message")
    return {
        "jobs": len(log), "polytopes": len(rows),
        "per_algorithm": per_algorithm,
        "slowest_jobs": [{k: r[k] for k in brief} for r in slowest],
        "failures": {"count": len(failures), "first": [{k: r[k] for k in brief} for r in failures[:50]]},
        "timeouts": {"count": len(timeouts), "first": [{k: r[k] for k in brief} for r in timeouts[:50]]},
        "capacity_agreement": agreement,
        "certified_capacity_by_algorithm": dict(sorted(certified_by.items())),
        "polytopes_without_certified_capacity": sum(1 for r in rows if r["capacity"] is None),
    }


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def write_report(benchmark_dir: Path, summary: dict[str, Any], log: list[dict[str, Any]]) -> Path:
    """Write ``report.md`` from the summary (the hook to extend with plots); returns its path."""
    lines = [
        "# Benchmark report", "",
        f"{summary['polytopes']} polytopes, {summary['jobs']} jobs; "
        f"{summary['failures']['count']} failed, {summary['timeouts']['count']} timed out; "
        f"{summary['polytopes_without_certified_capacity']} polytopes without a certified capacity.", "",
        "## Per algorithm", "",
        "| quantity/algorithm | jobs | status | median s | p90 s | max s | total s | peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["per_algorithm"].items():
        st = ", ".join(f"{k} {v}" for k, v in s["status"].items())
        lines.append(f"| {name} | {s['jobs']} | {st} | {_fmt(s['wall_s_median'])} | {_fmt(s['wall_s_p90'])} | "
                     f"{_fmt(s['wall_s_max'])} | {_fmt(s['wall_s_total'])} | {_fmt(s['peak_mb_max'])} |")
    lines += ["", "## Slowest jobs", "", "| job | polytope | what | facets | wall s |", "|---|---|---|---|---|"]
    for r in summary["slowest_jobs"]:
        what = f"{r['quantity']}/{r['algorithm']}" if r["quantity"] else r["kind"]
        lines.append(f"| {r['job_id']} | {r['polytope_id']} | {what} | {r['num_facets']} | {_fmt(r['wall_s'])} |")
    for title, key in (("Failures", "failures"), ("Timeouts", "timeouts")):
        lines += ["", f"## {title} ({summary[key]['count']})", ""]
        for r in summary[key]["first"]:
            what = f"{r['quantity']}/{r['algorithm']}" if r["quantity"] else r["kind"]
            lines.append(f"- job {r['job_id']} {what} on `{r['polytope_id']}`: {r['error_type']}: {r['error_message']}")
    lines += ["", "## Agreement between capacity algorithms", ""]
    if summary["capacity_agreement"]:
        lines += ["| pair | polytopes | max rel. diff | disagreements |", "|---|---|---|---|"]
        lines += [f"| {k} | {v['polytopes']} | {v['max_relative_difference']:.3g} | {v['disagreements']} |"
                  for k, v in summary["capacity_agreement"].items()]
    else:
        lines.append("No polytope has two capacity values to compare.")
    lines += ["", "## Certified capacity by algorithm", ""]
    lines += [f"- {k}: {v}" for k, v in summary["certified_capacity_by_algorithm"].items()] or ["- none"]
    plot = plot_wall_times(benchmark_dir, log)
    if plot is not None:
        lines += ["", "## Wall time per job", "", f"![wall time per algorithm]({plot.name})"]
    path = benchmark_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def plot_wall_times(benchmark_dir: Path, log: list[dict[str, Any]]) -> Path | None:
    """``wall_times.png``: wall seconds per job, one box per quantity/algorithm (log scale)."""
    groups: dict[str, list[float]] = defaultdict(list)
    for r in log:
        if r["wall_s"] is not None and r["wall_s"] > 0:
            groups[f"{r['quantity']}/{r['algorithm']}" if r["quantity"] else r["kind"]].append(r["wall_s"])
    if not groups:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on workers/CI
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency, but plots are optional
        return None
    names = sorted(groups)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    ax.boxplot([groups[n] for n in names], orientation="horizontal", tick_labels=names)
    ax.set_xscale("log")
    ax.set_xlabel("wall seconds per job")
    fig.tight_layout()
    path = benchmark_dir / "wall_times.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def export_dataset(engine: Engine, name: str, out: Path | None = None, *,
                   preset: str | None = None, preset_items: list[Any] | None = None) -> dict[str, Any]:
    """Export the polytopes (of ``preset``, if given or implied by ``atlas-<preset>``) to ``out``.

    Returns ``{"path", "rows", "content_hash"}``.
    """
    from viterbo.atlas.kinds import load_plugins
    from viterbo.atlas.presets import PRESETS, polytope_keys

    validate_export_name(name)
    load_plugins()
    if preset is None and preset_items is None and name.startswith("atlas-") and name[6:] in PRESETS:
        preset = name[6:]
    if preset is not None and preset_items is None:
        preset_items = PRESETS[preset]
    keys = polytope_keys(preset_items) if preset_items is not None else None
    target = Path(out) if out is not None else DEFAULT_EXPORT_ROOT / name
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)

    volume_algs = _algorithms(engine, VOLUME, DEFAULT_VOLUME_ALGORITHMS)
    capacity_algs = _algorithms(engine, CAPACITY, DEFAULT_CAPACITY_ALGORITHMS)
    polytopes = _read_polytopes(engine, keys)
    if not polytopes:
        # An empty Parquet split cannot be loaded by `datasets`; say so instead of publishing it.
        scope = f"of preset {preset!r} " if preset else ""
        raise ExportError(f"nothing to export: no polytope {scope}has been generated yet (run `atlas enqueue` and `atlas work`)")
    jobs = _read_jobs(engine, [p["id"] for p in polytopes],
                      {f"generate:{k}" for k in keys} if keys is not None else None)
    rows = build_rows(polytopes, jobs, volume_algs, capacity_algs)
    feats = features(volume_algs, capacity_algs)
    digest = content_hash(rows, feats)
    log = job_log(jobs, polytopes)

    per_family: dict[str, int] = defaultdict(int)
    for r in rows:
        per_family[r["family"]] += 1
    algorithms = sorted({f"{j['quantity']}/{j['algorithm']}" for j in jobs if j["kind"] == QUANTITY})
    manifest = {
        "name": name, "schema_version": SCHEMA_VERSION, "code_version": _git_commit(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "preset": preset, "rows": len(rows), "rows_per_family": dict(sorted(per_family.items())),
        "provenance": {
            "generator": "viterbo.families.generate(family, params, index); seed per (family, params, index)",
            "families": sorted({(r["family"], r["params"]) for r in rows}),
        },
        "quantities": algorithms, "content_hash": digest,
    }

    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        _write_parquet(rows, feats, tmp / "data")
        (tmp / "README.md").write_text(_dataset_card(name, manifest, feats))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        bench = tmp / "benchmark"
        bench.mkdir()
        with (bench / "jobs.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[*JOB_LOG_COLUMNS, "error_message"])
            writer.writeheader()
            writer.writerows(log)
        summary = summarise(log, rows, capacity_algs)
        (bench / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        write_report(bench, summary, log)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(target), "rows": len(rows), "content_hash": digest}


def _swap_into_place(tmp: Path, target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ExportError(f"export target {str(target)!r} exists and is not a folder")
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
