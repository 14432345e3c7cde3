"""The data an export publishes: dataset rows, their schema and hash, the job log, completeness.

Everything here reads the job store through :class:`~viterbo.atlas.store.JobStore` and turns it
into plain rows; the card (:mod:`.card`), the report (:mod:`viterbo.atlas.report`) and the
snapshot (:mod:`.snapshot`) are built from these rows, never from the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, List, Value
from datasets.utils.logging import disable_progress_bar
from sqlalchemy import Engine

from viterbo.atlas.jobs import LIMIT_PARAMS, QUANTITY, limit_params
from viterbo.atlas.models import ALL_STATES, DONE, NOT_APPLICABLE, SKIPPED, TERMINAL_STATES
from viterbo.atlas.presets import polytope_key
from viterbo.atlas.store import JobStore
from viterbo.invariants import registry
from viterbo.invariants.evaluate import Outcome, headline, skip_reason

SCHEMA_VERSION = 3  # 2: capacity_certificate holds the level; capacity_agreeing; 3: spectrum_exact


SHARD_ROWS = 5000

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


def column_name(algorithm: str) -> str:
    """Dataset column suffix for an algorithm name (``haim-kislev`` -> ``haim_kislev``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", algorithm)


# --------------------------------------------------------------------------- reading


def _algorithms(engine: Engine, quantity: str, defaults: Iterable[str]) -> list[str]:
    names = set(defaults)
    names |= {a.name for a in registry.algorithms(quantity)}
    names |= JobStore(engine).algorithms_of(QUANTITY, quantity)
    return sorted(n for n in names if n)


def features(volume_algs: list[str], capacity_algs: list[str]) -> Any:
    """The explicit ``datasets.Features`` of a dataset row."""
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
            "spectrum_exact": Value("bool"),
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
        row["spectrum_exact"] = _spectrum_exact(qjobs) if row["spectrum"] is not None else None
        row["schema_version"] = SCHEMA_VERSION
        rows.append(row)
    return rows


def _spectrum_exact(qjobs: dict[tuple[str, str], dict[str, Any]]) -> bool | None:
    """Whether the published spectrum's search claims to be complete (its ``claimed_exact``)."""
    for (quantity, _), job in sorted(qjobs.items()):
        parsed = job["parsed"]
        if quantity == "spectrum" and isinstance(parsed, dict):
            claimed = (parsed.get("diagnostics") or {}).get("claimed_exact")
            return claimed if isinstance(claimed, bool) else None
    return None


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


def _write_parquet(rows: list[dict[str, Any]], feats: Any, data_dir: Path) -> list[str]:
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


def policy_drift(
    polytopes: list[dict[str, Any]], jobs: list[dict[str, Any]], items: Iterable[Any]
) -> dict[str, dict[str, Any]]:
    """Quantity jobs that did not run under what the preset's policy gives them now.

    A job keeps the limits (time limit, work budget) it was created with, and whether the
    policy skipped it then, so a database built under an earlier policy would otherwise be
    published under today's policy text.  Returns ``{"quantity/algorithm": {"jobs": n,
    "as_run": <first such job's limits>, "policy": <the preset's>}}`` (a skip shows as
    ``{"skipped": true}``); empty when every job ran under the stated policy.
    """
    item_of: dict[str, Any] = {}
    for it in items:  # the first item of a polytope wins, as in presets.generate_specs
        for i in range(it.count):
            item_of.setdefault(polytope_key(it.family, it.params, i), it)
    by_id = {p["id"]: p for p in polytopes}
    drift: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if job["kind"] != QUANTITY or job["status"] == NOT_APPLICABLE:
            continue
        polytope = by_id.get(job["polytope_id"])
        item = item_of.get(polytope["key"]) if polytope else None
        if item is None:
            continue
        key = f"{job['quantity']}/{job['algorithm']}"
        limits = item.policy.get(key, {})
        if skip_reason(key, limits, polytope["num_facets"], polytope["index"]) is not None:
            stated: dict[str, Any] = {"skipped": True}
        else:
            try:
                stated = limit_params(job["quantity"], job["algorithm"], limits)
            except KeyError:  # an algorithm no longer registered: nothing to compare with
                continue
        if job["status"] == SKIPPED:
            as_run: dict[str, Any] = {"skipped": True}
        else:
            as_run = {k: v for k, v in sorted(_params(job).items()) if k in LIMIT_PARAMS}
        if as_run != stated:
            entry = drift.setdefault(key, {"jobs": 0, "as_run": as_run, "policy": stated})
            entry["jobs"] += 1
    return dict(sorted(drift.items()))


def _params(job: dict[str, Any]) -> dict[str, Any]:
    """A job's params as a dict (``{}`` when absent or unreadable: its failure says why)."""
    try:
        params = json.loads(job.get("params") or "{}")
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}
