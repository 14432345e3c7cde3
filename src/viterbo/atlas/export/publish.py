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
import json
import re
import shutil
import subprocess
import time
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from viterbo.atlas import report
from viterbo.atlas.db import IS_CHECKOUT, REPO_ROOT
from viterbo.atlas.errors import ExportError
from viterbo.atlas.export.card import _dataset_card
from viterbo.atlas.export.rows import (
    CAPACITY,
    DEFAULT_CAPACITY_ALGORITHMS,
    DEFAULT_VOLUME_ALGORITHMS,
    JOB_LOG_COLUMNS,
    SCHEMA_VERSION,
    VOLUME,
    _algorithms,
    _write_parquet,
    build_rows,
    completeness,
    content_hash,
    features,
    job_log,
    policy_drift,
    policy_summary,
)
from viterbo.atlas.export.snapshot import (
    _require_writable_folder,
    _scratch_path,
    _swap_into_place,
    sweep_stale_scratch,
)
from viterbo.atlas.jobs import GENERATE, QUANTITY
from viterbo.atlas.kinds import load_plugins
from viterbo.atlas.presets import PRESETS, polytope_keys
from viterbo.atlas.store import JobStore

DEFAULT_EXPORT_ROOT = REPO_ROOT / "artefacts" / "datasets"


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def validate_export_name(name: str) -> str:
    """``name`` if it is a safe folder name (letters, digits, ``.``, ``_``, ``-``; no ``..``)."""
    if not NAME_RE.match(name) or ".." in name:
        raise ExportError(
            f"invalid export name {name!r}: use letters, digits, '.', '_', '-' (no '/' or '..')"
        )
    return name


# ---------------------------------------------------------------------------- writing


def _git_commit() -> str | None:
    """The checkout's git commit; for an installed package its version (``viterbo-atlas==X``)."""
    if not IS_CHECKOUT:
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


def _held_presets(engine: Engine) -> str:
    """Which presets the database holds (complete or in part), for a refusal message."""
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
    store = JobStore(engine)
    polytopes = store.polytope_rows(keys)
    jobs = store.export_jobs(
        [p["id"] for p in polytopes],
        GENERATE,
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
    drift = policy_drift(polytopes, jobs, preset_items or [])
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
        "policy_drift": drift,
        "certificate_levels": report.certificate_levels(rows),
        "unconfirmed_high_ratios": len(report.unconfirmed_high_ratios(rows)),
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
        summary = report.summarise(log, rows, capacity_algs, policy=policy, drift=drift)
        (bench / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        report.write_report(bench, summary, log, rows)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "path": str(target),
        "rows": len(rows),
        "content_hash": digest,
        "complete": state["complete"],
        "policy_drift": drift,
    }
