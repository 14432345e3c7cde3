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
destination and swapped into place (``renameat2(RENAME_EXCHANGE)`` on Linux): readers see the
old snapshot or the new one, never half, and the path never vanishes.  Scratch folders left by
a killed export are removed by the next one (see :func:`sweep_stale_scratch`).
"""

from __future__ import annotations

import csv
import ctypes
import errno
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from viterbo.atlas.db import IS_CHECKOUT, REPO_ROOT
from viterbo.atlas.errors import ExportError
from viterbo.atlas.jobs import GENERATE, QUANTITY
from viterbo.atlas.models import ALL_STATES, DONE, TERMINAL_STATES
from viterbo.atlas.report import (
    AGREEMENT_RTOL,
    certificate_levels,
    policy_lines,
    summarise,
    unconfirmed_high_ratios,
    write_report,
)
from viterbo.atlas.store import JobStore
from viterbo.invariants.certified import LEVELS
from viterbo.invariants.evaluate import Outcome, headline
from viterbo.invariants.systolic import HKO_SYSTOLIC_RATIO

__all__ = [
    "AGREEMENT_RTOL",
    "build_rows",
    "exchange_paths",
    "export_dataset",
    "features",
    "job_log",
    "summarise",
    "sweep_stale_scratch",
    "write_report",
]

SCHEMA_VERSION = 2  # 2: capacity_certificate holds the level; capacity_agreeing
DEFAULT_EXPORT_ROOT = REPO_ROOT / "artefacts" / "datasets"
SHARD_ROWS = 5000
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

# Quantities that have their own dataset columns (others appear only in the benchmark log).
VOLUME, CAPACITY = "volume", "capacity"
# The published values, filled from viterbo.invariants.evaluate.headline.
HEADLINE_COLUMNS = (
    "capacity",
    "capacity_algorithm",
    "capacity_certificate",
    "capacity_agreeing",
    "systolic_ratio",
    "minimal_action_cycle",
    "spectrum",
)
DEFAULT_VOLUME_ALGORITHMS = ("cone-decomposition", "qhull")
DEFAULT_CAPACITY_ALGORITHMS = ("area-2d", "billiard", "haim-kislev", "reeb", "symplectic-product")


def validate_export_name(name: str) -> str:
    """``name`` if it is a safe folder name (letters, digits, ``.``, ``_``, ``-``; no ``..``)."""
    if not NAME_RE.match(name) or ".." in name:
        raise ExportError(
            f"invalid export name {name!r}: use letters, digits, '.', '_', '-' (no '/' or '..')"
        )
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
    names |= JobStore(engine).algorithms_of(QUANTITY, quantity)
    return sorted(n for n in names if n)


def _read_polytopes(engine: Engine, keys: set[str] | None) -> list[dict[str, Any]]:
    return JobStore(engine).polytope_rows(keys)


def _read_jobs(
    engine: Engine, polytope_ids: list[int], generate_keys: set[str] | None
) -> list[dict[str, Any]]:
    return JobStore(engine).export_jobs(polytope_ids, GENERATE, generate_keys)


def features(volume_algs: list[str], capacity_algs: list[str]) -> Any:
    """The explicit ``datasets.Features`` of a dataset row."""
    from datasets import Features, List, Value

    f64, matrix = Value("float64"), List(List(Value("float64")))
    spec: dict[str, Any] = {
        "id": Value("string"),
        "family": Value("string"),
        "params": Value("string"),
        "index": Value("int64"),
        "seed": Value("int64"),
        "dimension": Value("int32"),
        "num_vertices": Value("int32"),
        "num_facets": Value("int32"),
        "rejections": Value("int64"),
        "metadata": Value("string"),
        "vertices": matrix,
        "normals": matrix,
        "offsets": List(f64),
        "volume": f64,
    }
    for alg in volume_algs:
        spec[f"volume_{column_name(alg)}"] = f64
    for alg in capacity_algs:
        spec[f"capacity_{column_name(alg)}"] = f64
        spec[f"status_{column_name(alg)}"] = Value("string")
    spec.update(
        {
            "capacity": f64,
            "capacity_algorithm": Value("string"),
            "capacity_certificate": Value("string"),
            "capacity_agreeing": List(Value("string")),
            "systolic_ratio": f64,
            "minimal_action_cycle": matrix,
            "spectrum": List(f64),
            "schema_version": Value("int32"),
        }
    )
    return Features(spec)


def _value(result: dict[str, Any] | None) -> float | None:
    if not result:
        return None
    v = result.get("value")
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def build_rows(
    polytopes: list[dict[str, Any]],
    jobs: list[dict[str, Any]],
    volume_algs: list[str],
    capacity_algs: list[str],
) -> list[dict[str, Any]]:
    """One dataset row per polytope (in ``polytopes`` order)."""
    by_polytope: dict[int, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    for job in jobs:
        if job["kind"] == QUANTITY and job["polytope_id"] is not None:
            res = json.loads(job["result"]) if job["result"] and job["status"] == DONE else None
            by_polytope[job["polytope_id"]][(job["quantity"], job["algorithm"])] = {
                **job,
                "parsed": res,
            }
    rows = []
    for p in polytopes:
        qjobs = by_polytope.get(p["id"], {})

        def result(q: str, a: str, qjobs: dict = qjobs) -> dict[str, Any] | None:
            job = qjobs.get((q, a))
            return job["parsed"] if job else None

        row: dict[str, Any] = {
            "id": p["key"],
            "family": p["family"],
            "params": p["params"],
            "index": p["index"],
            "seed": p["seed"],
            "dimension": p["dimension"],
            "num_vertices": p["num_vertices"],
            "num_facets": p["num_facets"],
            "rejections": _rejections(p["metadata"]),
            "metadata": p["metadata"] or "{}",
            "vertices": json.loads(p["vertices"]),
            "normals": json.loads(p["normals"]),
            "offsets": json.loads(p["offsets"]),
        }
        # The published values: the one headline projection `atlas compute` uses as well.
        top = headline(
            {
                f"{q}/{a}": Outcome(job["status"], result=job["parsed"])
                for (q, a), job in qjobs.items()
            }
        )
        row["volume"] = top["volume"]
        for a in volume_algs:
            row[f"volume_{column_name(a)}"] = _value(result(VOLUME, a))
        for a in capacity_algs:
            job = qjobs.get((CAPACITY, a))
            row[f"capacity_{column_name(a)}"] = _value(job["parsed"]) if job else None
            row[f"status_{column_name(a)}"] = job["status"] if job else "missing"
        for name in HEADLINE_COLUMNS:
            row[name] = top[name]
        row["schema_version"] = SCHEMA_VERSION
        rows.append(row)
    return rows


def _rejections(metadata: str | None) -> int | None:
    try:
        value = json.loads(metadata or "{}").get("rejections")
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int) else None


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
    """The checkout's git commit; for an installed package its version (``viterbo-atlas==X``)."""
    if not IS_CHECKOUT:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"viterbo-atlas=={version('viterbo-atlas')}"
        except PackageNotFoundError:
            return None
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
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
        chunk = rows[s * SHARD_ROWS : (s + 1) * SHARD_ROWS]
        columns = {name: [r[name] for r in chunk] for name in feats}
        name = f"train-{s:05d}-of-{n_shards:05d}.parquet"
        Dataset.from_dict(columns, features=feats).to_parquet(str(data_dir / name))
        names.append(name)
    return names


# What each fixed column holds (per-algorithm columns are described by pattern below).
COLUMN_DOCS: dict[str, str] = {
    "id": "stable polytope id `family:paramshash:index` (equal in every database and build)",
    "family": "generator family (see Families)",
    "params": "generator parameters, canonical JSON",
    "index": "index of the polytope within (family, params)",
    "seed": "the polytope's random seed (SHA-256 of family, params, index)",
    "rejections": "random draws the generator rejected (unbounded, degenerate, ...) before this one",
    "metadata": "generator metadata, JSON (e.g. the symplectic matrix of an image, the relative rotation)",
    "dimension": "ambient dimension (4, or 2 for polygons)",
    "num_vertices": "number of vertices",
    "num_facets": "number of facets",
    "vertices": "vertex coordinates (q1, q2, p1, p2); polygons counter-clockwise",
    "normals": "unit outer facet normals",
    "offsets": "facet offsets: the polytope is {x : normals @ x <= offsets}",
    "volume": "volume (qhull; another volume algorithm if qhull did not finish)",
    "capacity": "certified EHZ capacity: an exact algorithm's value whose minimal-action loop passed verify_loop",
    "capacity_algorithm": "the algorithm whose verified loop is published as minimal_action_cycle",
    "capacity_certificate": "certificate level: confirmed (two or more independent exact algorithms agree to "
    "1e-8, each loop verified), single (one exact algorithm; status_* say why the others gave nothing) or "
    "disagreement (exact values differ; capacity is the smallest verified loop's action, an upper bound)",
    "capacity_agreeing": "the exact algorithms whose verified values agree with capacity (to 1e-8)",
    "systolic_ratio": "c^n / (n! vol) from the certified capacity and the volume",
    "minimal_action_cycle": "closed polygonal characteristic of minimal action (its vertices, in order)",
    "spectrum": "lowest actions of closed Reeb orbits (reeb spectrum search), where it applies and finished",
    "schema_version": "version of this schema",
}

CITATIONS = (
    "- `haim-kislev`: P. Haim-Kislev, *On the symplectic size of convex polytopes*, GAFA 2019, arXiv:1712.03494.",
    "- `reeb` (capacity and spectrum): J. Chaidez, M. Hutchings, *Computing Reeb dynamics on four-dimensional "
    "convex polytopes*, J. Comput. Dyn. 2021, arXiv:2008.10111.",
    "- `billiard`: D. Rudolf, *The Minkowski billiard characterization of the EHZ-capacity of convex Lagrangian "
    "products*, J. Dyn. Diff. Equations 2022.",
    "- `symplectic-product`: P. Haim-Kislev, Y. Ostrover, *Remarks on symplectic capacities of p-products*, 2021.",
    "- `product-ngons` / the counterexample: P. Haim-Kislev, Y. Ostrover, *A counterexample to Viterbo's "
    "conjecture*, arXiv:2405.16513.",
    "- Complexity: K. Leipold, F. Vallentin, *Computing the EHZ capacity is NP-hard*, arXiv:2402.09914.",
    "- Equality cases: A. Balitskiy, *Equality cases in Viterbo's conjecture and isoperimetric billiard "
    "inequalities*, 2015.",
)


def _families_table(families: Iterable[str]) -> list[str]:
    try:
        from viterbo.families import describe
    except ImportError:  # pragma: no cover - families layer absent
        return [f"- `{f}`" for f in sorted(families)]
    wanted = {f"| `{f}` |" for f in families}
    lines = describe().splitlines()
    return lines[:2] + [line for line in lines[2:] if any(line.startswith(w) for w in wanted)]


def _algorithm_lines(quantities: list[str]) -> list[str]:
    try:
        from viterbo.invariants import registry
    except ImportError:  # pragma: no cover
        return [f"- `{q}`" for q in quantities]
    out = []
    for key in quantities:
        quantity, _, name = key.partition("/")
        try:
            alg = registry.get(quantity, name)
            out.append(f"- `{key}`{' (exact)' if alg.exact else ''}: {alg.description}")
        except KeyError:
            out.append(f"- `{key}`")
    return out


def _dataset_card(name: str, manifest: dict[str, Any], feats: Any) -> str:
    policy = manifest.get("policy") or {}
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
        "(q1, q2, p1, p2), omega(e_q1, e_p1) = +1), volume, EHZ capacity per algorithm with status,",
        "the certified capacity, the systolic ratio c^n/(n! vol), the minimal-action closed",
        "characteristic and the low action spectrum.  Missing values are null; the per-algorithm",
        "`status_*` columns say why (done, failed, timed_out, not_applicable, skipped).",
        "",
        "## Load",
        "",
        "```python",
        "import datasets",
        f'ds = datasets.load_dataset("artefacts/datasets/{name}", split="train")',
        "```",
        "",
        f"Rows: {manifest['rows']}.  Schema version {SCHEMA_VERSION}.  Content hash `{manifest['content_hash']}`.",
        f"Code version: `{manifest['code_version']}`.  Preset: `{manifest['preset']}`.",
        "",
        *_completeness_lines(manifest["completeness"]),
        "",
        "## Rows per family",
        "",
        *[f"- `{f}`: {n}" for f, n in manifest["rows_per_family"].items()],
        "",
        "## Families",
        "",
        *_families_table(manifest["rows_per_family"]),
        "",
        "## Quantities and algorithms",
        "",
        *_algorithm_lines(manifest["quantities"]),
        "",
        "Every published `capacity` comes from an exact algorithm whose minimal-action loop was",
        "re-verified (`viterbo.invariants.certificate.verify_loop`); where several exact",
        "algorithms apply they are all run and compared (see `benchmark/report.md`).",
        "",
        "## Certificate levels",
        "",
        "A verified loop proves only c <= its action; that no smaller orbit exists rests on an exact",
        "algorithm's exhaustive search, so a value is trusted when independent exact algorithms agree.",
        "`capacity_certificate` says which case a row is:",
        "",
        *[
            f"- `{level}` ({manifest['certificate_levels'].get(level, 0)} rows): {meaning}"
            for level, meaning in LEVELS.items()
        ],
        *(
            [f"- no certified capacity: {manifest['certificate_levels']['none']} rows"]
            if manifest["certificate_levels"].get("none")
            else []
        ),
        "",
        f"Systolic ratios above Haim-Kislev--Ostrover's {HKO_SYSTOLIC_RATIO:.10f} without a `confirmed`",
        f"capacity: {manifest['unconfirmed_high_ratios']} (listed at the top of `benchmark/report.md`).",
        "",
    ]
    if policy:
        lines += ["## Run policy", "", *policy_lines(policy), ""]
    lines += [
        "## Columns",
        "",
        *[
            f"- `{col}` ({_feature_type(feats[col])}): {COLUMN_DOCS.get(col, _pattern_doc(col))}"
            for col in feats
        ],
        "",
        "## Rebuild",
        "",
        "```",
        f"atlas build {manifest['preset'] or 'PRESET'} --workers 2 --db sqlite:////tmp/atlas.sqlite",
        "```",
        "",
        "gives the same values (content hash equal up to timing-limited jobs).  `manifest.json`",
        "holds the provenance; `benchmark/` the per-job timing log (`jobs.csv`), `summary.json`,",
        "`report.md` and plots.",
        "",
        "## Cite the algorithms",
        "",
        *CITATIONS,
        "",
    ]
    return "\n".join(lines)


def _completeness_lines(state: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{k} {v}" for k, v in state["job_status_counts"].items())
    if state["complete"]:
        return [
            f"Completeness: complete -- all {state['polytopes_expected']} polytopes, every job finished "
            f"({counts})."
        ]
    return [
        f"**Partial build** (exported with `--allow-partial`): {state['polytopes']} of "
        f"{state['polytopes_expected']} polytopes, {state['unfinished_jobs']} jobs unfinished ({counts}). "
        "Missing values may only be missing because their jobs had not run yet."
    ]


def _feature_type(feature: Any) -> str:
    text = repr(feature)
    if "List(List(" in text:
        return "list of list of float64"
    if text.startswith("List(") and "string" in text:
        return "list of string"
    if text.startswith("List("):
        return "list of float64"
    match = re.search(r"Value\((?:dtype=)?'(\w+)'", text)
    return match.group(1) if match else text


def _pattern_doc(col: str) -> str:
    if col.startswith("volume_"):
        return f"volume by algorithm `{col[7:]}`"
    if col.startswith("capacity_"):
        return f"EHZ capacity by algorithm `{col[9:]}` (null unless its status is done)"
    if col.startswith("status_"):
        return f"job status of capacity algorithm `{col[7:]}`"
    return ""


JOB_LOG_COLUMNS = (
    "job_id",
    "polytope_id",
    "family",
    "kind",
    "quantity",
    "algorithm",
    "num_facets",
    "status",
    "attempts",
    "wall_s",
    "cpu_s",
    "peak_mb",
    "error_type",
    "reason",
    "started_at",
    "finished_at",
    "lease_owner",
)


def job_reason(job: dict[str, Any]) -> str:
    """One line saying why a job did not finish ``done`` (error, not-applicable or policy reason)."""
    if job["error_message"]:
        return job["error_message"].splitlines()[0][:200]
    if job["status"] in ("not_applicable", "skipped") and job["result"]:
        try:
            res = json.loads(job["result"])
        except ValueError:
            return ""
        if isinstance(res, dict):
            return str(res.get(job["status"], ""))[:200]
    return ""


def job_log(jobs: list[dict[str, Any]], polytopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per job for ``benchmark/jobs.csv`` (deterministic order)."""
    by_id = {p["id"]: p for p in polytopes}
    out = []
    for job in jobs:
        p = by_id.get(job["polytope_id"])
        pkey = p["key"] if p else job["idempotency_key"].removeprefix("generate:")
        out.append(
            {
                "job_id": job["id"],
                "polytope_id": pkey,
                "family": job["family"],
                "kind": job["kind"],
                "quantity": job["quantity"] or "",
                "algorithm": job["algorithm"] or "",
                "num_facets": p["num_facets"] if p else "",
                "status": job["status"],
                "attempts": job["attempts"],
                "wall_s": job["wall_seconds"],
                "cpu_s": job["cpu_seconds"],
                "peak_mb": job["peak_rss_mb"],
                "error_type": job["error_type"] or "",
                "reason": job_reason(job),
                "started_at": job.get("started_at"),
                "finished_at": job.get("finished_at"),
                "lease_owner": job.get("lease_owner") or "",
            }
        )
    out.sort(key=lambda r: (r["polytope_id"], r["kind"], r["quantity"], r["algorithm"]))
    return out


def completeness(
    polytopes: list[dict[str, Any]], jobs: list[dict[str, Any]], expected: int | None
) -> dict[str, Any]:
    """How complete the exported build is: polytopes present of those expected, job statuses.

    Complete: every expected polytope is generated and no job of theirs is left to run
    (pending, blocked or running); failed and timed-out jobs are finished, and reported.
    """
    counts = dict.fromkeys(ALL_STATES, 0)
    for job in jobs:
        counts[job["status"]] = counts.get(job["status"], 0) + 1
    unfinished = sum(counts[s] for s in ALL_STATES if s not in TERMINAL_STATES)
    wanted = len(polytopes) if expected is None else expected
    return {
        "complete": len(polytopes) >= wanted and unfinished == 0,
        "polytopes": len(polytopes),
        "polytopes_expected": wanted,
        "unfinished_jobs": unfinished,
        "job_status_counts": {k: v for k, v in counts.items() if v},
    }


def _held_presets(engine: Engine) -> str:
    """Which presets the database holds (complete or in part), for a refusal message."""
    from viterbo.atlas.presets import PRESETS, polytope_keys

    present = JobStore(engine).polytope_keys()
    held = []
    for preset, items in sorted(PRESETS.items()):
        keys = polytope_keys(items)
        n = len(keys & present)
        if n:
            held.append(f"{preset!r} ({n} of {len(keys)} polytopes)")
    return ", ".join(held) or "no preset's polytopes"


def _refusal(name: str, preset: str | None, state: dict[str, Any], engine: Engine) -> ExportError:
    counts = ", ".join(f"{k} {v}" for k, v in state["job_status_counts"].items()) or "no jobs"
    what = f"preset {preset!r}" if preset else "the database"
    return ExportError(
        f"refusing to export {name}: the database holds {state['polytopes']} of the "
        f"{state['polytopes_expected']} polytopes of {what}, {state['unfinished_jobs']} jobs unfinished "
        f"({counts}); it holds {_held_presets(engine)}. Finish the build (`atlas work`) or pass --allow-partial"
    )


def export_dataset(
    engine: Engine,
    name: str,
    out: Path | None = None,
    *,
    preset: str | None = None,
    preset_items: list[Any] | None = None,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Export the polytopes (of ``preset``, if given or implied by ``atlas-<preset>``) to ``out``.

    Refuses (:class:`ExportError`, nothing written) unless the build is complete (see
    :func:`completeness`); ``allow_partial`` publishes it anyway and the card says so.
    Returns ``{"path", "rows", "content_hash", "complete"}``.
    """
    from viterbo.atlas.kinds import load_plugins
    from viterbo.atlas.presets import PRESETS, polytope_keys

    validate_export_name(name)
    load_plugins()
    if (
        preset is None
        and preset_items is None
        and name.startswith("atlas-")
        and name[6:] in PRESETS
    ):
        preset = name[6:]
    if preset is not None and preset_items is None:
        preset_items = PRESETS[preset]
    keys = polytope_keys(preset_items) if preset_items is not None else None
    target = Path(out) if out is not None else DEFAULT_EXPORT_ROOT / name
    target = target.resolve()
    _require_writable_folder(target)

    volume_algs = _algorithms(engine, VOLUME, DEFAULT_VOLUME_ALGORITHMS)
    capacity_algs = _algorithms(engine, CAPACITY, DEFAULT_CAPACITY_ALGORITHMS)
    polytopes = _read_polytopes(engine, keys)
    jobs = _read_jobs(
        engine,
        [p["id"] for p in polytopes],
        {f"generate:{k}" for k in keys} if keys is not None else None,
    )
    state = completeness(polytopes, jobs, len(keys) if keys is not None else None)
    if not state["complete"] and not allow_partial:
        raise _refusal(name, preset, state, engine)
    if not polytopes:
        # An empty Parquet split cannot be loaded by `datasets`; say so instead of publishing it.
        scope = f"of preset {preset!r} " if preset else ""
        raise ExportError(
            f"nothing to export: no polytope {scope}has been generated yet (run `atlas enqueue` and `atlas work`)"
        )
    rows = build_rows(polytopes, jobs, volume_algs, capacity_algs)
    feats = features(volume_algs, capacity_algs)
    digest = content_hash(rows, feats)
    log = job_log(jobs, polytopes)

    per_family: dict[str, int] = defaultdict(int)
    for r in rows:
        per_family[r["family"]] += 1
    algorithms = sorted(
        {f"{j['quantity']}/{j['algorithm']}" for j in jobs if j["kind"] == QUANTITY}
    )
    policy = policy_summary(preset_items or [])
    status_counts: dict[str, int] = defaultdict(int)
    for j in jobs:
        status_counts[j["status"]] += 1
    manifest = {
        "name": name,
        "schema_version": SCHEMA_VERSION,
        "code_version": _git_commit(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "preset": preset,
        "rows": len(rows),
        "rows_per_family": dict(sorted(per_family.items())),
        "provenance": {
            "generator": "viterbo.families.generate(family, params, index); seed per (family, params, index)",
            "families": sorted({(r["family"], r["params"]) for r in rows}),
        },
        "quantities": algorithms,
        "content_hash": digest,
        "job_status_counts": dict(sorted(status_counts.items())),
        "policy": policy,
        "certificate_levels": certificate_levels(rows),
        "unconfirmed_high_ratios": len(unconfirmed_high_ratios(rows)),
        "completeness": state,
    }

    sweep_stale_scratch(target)
    tmp = _scratch_path(target, "tmp")
    try:
        tmp.mkdir()
        _write_parquet(rows, feats, tmp / "data")
        (tmp / "README.md").write_text(_dataset_card(name, manifest, feats))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        bench = tmp / "benchmark"
        bench.mkdir()
        with (bench / "jobs.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(JOB_LOG_COLUMNS))
            writer.writeheader()
            writer.writerows(log)
        summary = summarise(log, rows, capacity_algs, policy=policy)
        (bench / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        write_report(bench, summary, log, rows)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "path": str(target),
        "rows": len(rows),
        "content_hash": digest,
        "complete": state["complete"],
    }


def policy_summary(items: Iterable[Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The run policies of preset items for the manifest and the report.

    ``{"default": <policy of most polytopes>, "<family>": <its policy>, "<family> <params>":
    ...}``: a family whose items all share a non-default policy is named once; otherwise each
    item with a non-default policy is listed (an item with no policy has the empty policy).
    """
    weights: dict[str, int] = defaultdict(int)
    by_family: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for it in items:
        key = json.dumps(dict(getattr(it, "policy", {}) or {}), sort_keys=True)
        weights[key] += it.count
        by_family[it.family].append((json.dumps(it.params, sort_keys=True), key))
    if not weights or set(weights) == {"{}"}:
        return {}
    default = max(sorted(weights), key=lambda k: weights[k])
    out = {"default": json.loads(default)}
    for family, entries in sorted(by_family.items()):
        keys = {key for _, key in entries}
        if keys == {default}:
            continue
        if len(keys) == 1:
            out[family] = json.loads(keys.pop())
            continue
        for params, key in sorted(set(entries)):
            if key != default:
                out[f"{family} {params}"] = json.loads(key)
    return out


# ------------------------------------------------------------------------ swap into place
#
# A snapshot is written to a hidden scratch folder next to its target, ``.NAME.tmp-PID-XXXXXXXX``,
# and swapped into place.  On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``: readers see
# the old tree or the new one, the target path never vanishes.  Where the kernel, the C library
# or the filesystem lacks it, two renames (old tree away as ``.NAME.old-PID-XXXXXXXX``, new tree
# in) leave a window of microseconds in which the path is absent.  The creating pid in the
# scratch names lets the next export remove what a killed one left behind, and nothing else.

AT_FDCWD = -100
RENAME_EXCHANGE = 2
SCRATCH_KINDS = ("tmp", "old")


def _require_writable_folder(target: Path) -> None:
    """Refuse early, naming the OS's reason, when no snapshot can be written next to ``target``.

    The probe creates (and removes) a scratch folder of the kind the swap uses, so pseudo file
    systems such as /proc, read-only mounts and missing permissions are told apart by the OS's
    own error instead of being guessed from free space.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = _scratch_path(target, "tmp")
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"cannot write the snapshot {target}: {reason} (in {target.parent})"
        ) from None


def _scratch_path(target: Path, kind: str) -> Path:
    """A fresh hidden scratch folder name next to ``target`` tagged with this process's pid."""
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _scratch_pattern(name: str) -> re.Pattern[str]:
    kinds = "|".join(SCRATCH_KINDS)
    return re.compile(rf"^\.{re.escape(name)}\.(?:{kinds})-(?P<pid>[0-9]+)-[0-9a-f]{{8}}$")


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (zombies and others' processes count)."""
    if pid <= 0:
        return True  # never a scratch folder of ours: keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def sweep_stale_scratch(target: Path) -> list[Path]:
    """Remove the scratch folders of exports to ``target`` whose creating process is gone.

    Only folders named exactly ``.NAME.tmp-PID-XXXXXXXX`` / ``.NAME.old-PID-XXXXXXXX`` (``NAME``
    = ``target.name``, ``XXXXXXXX`` 8 hex digits) directly next to ``target`` are candidates,
    and only when no process ``PID`` exists; a live pid (an export still running) keeps its
    folder.  Symlinks and files are never touched.

    Returns
    -------
    list of Path
        The folders removed.
    """
    pattern = _scratch_pattern(target.name)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if _pid_alive(int(match["pid"])):
            continue
        _remove_tree(Path(entry.path))
        removed.append(Path(entry.path))
    return removed


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def exchange_paths(a: Path, b: Path) -> bool:
    """Atomically swap the directory entries ``a`` and ``b`` (Linux ``renameat2`` exchange).

    Returns
    -------
    bool
        ``True`` when swapped; ``False`` when this system cannot (no ``renameat2`` in the C
        library, or the kernel/filesystem answers ``ENOSYS``/``EINVAL``): nothing changed.

    Raises
    ------
    OSError
        Any other failure (missing path, permissions, different filesystems).
    """
    func = _renameat2()
    if func is None:
        return False
    rc = func(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _renameat2() -> Any:
    """``renameat2`` from the C library (glibc >= 2.28), or ``None`` where there is none."""
    if sys.platform != "linux":
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Make the finished tree ``tmp`` the snapshot at ``target``; delete the replaced one.

    After the exchange ``tmp`` names the old snapshot (still tagged with this pid, so a kill
    before the delete leaves a folder that the next export sweeps).
    """
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ExportError(f"export target {str(target)!r} exists and is not a folder")
    if not target.exists():
        os.rename(tmp, target)
        return
    if exchange_paths(tmp, target):
        _remove_tree(tmp)
        return
    old = _scratch_path(target, "old")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)  # put the previous snapshot back
        raise
    _remove_tree(old)
