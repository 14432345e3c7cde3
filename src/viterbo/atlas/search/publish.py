"""The ``atlas-search`` dataset: one row per finished start, in the atlas schema plus the
search columns, with a card, a manifest and a report (``report/``: convergence plot, the
best polytope per space, a picture of the best one with its minimal loop).

Written like the atlas snapshots: into a scratch folder, then swapped into place.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Features, Sequence, Value

from viterbo.atlas.errors import ExportError
from viterbo.atlas.export.card import YAML_HEADER
from viterbo.atlas.export.publish import _git_commit
from viterbo.atlas.export.rows import _write_parquet, content_hash
from viterbo.atlas.export.snapshot import (
    _require_writable_folder,
    _scratch_path,
    _swap_into_place,
    sweep_stale_scratch,
)
from viterbo.atlas.search.results import StartState, start_states
from viterbo.atlas.store import JobStore
from viterbo.geometry import as_lagrangian_product
from viterbo.search import polytope_of, space_from_spec
from viterbo.search.verify import HKO_RATIO

SCHEMA_VERSION = 1
CAPACITY_ALGORITHMS = ("billiard", "haim-kislev", "reeb", "symplectic-product")
_FLOATS = Sequence(Sequence(Value("float64")))

COLUMN_DOCS: dict[str, str] = {
    "id": "`search/start`",
    "search": "the search's name (`atlas search NAME`)",
    "start": "index of the start within the search",
    "space": "search space: halfspace, lagrangian-product or symplectic-product",
    "space_params": "the space's sizes (facets, or k and l), JSON",
    "seed": "the search's seed; start i draws from SeedSequence([seed, i])",
    "start_from": "`random`, or `polytope` (a family member or a file)",
    "is_lagrangian_product": "whether the optimum is a Lagrangian product (every normal in q or p)",
    "dimension": "4",
    "num_vertices": "vertices of the optimum",
    "num_facets": "facets of the optimum",
    "vertices": "vertex coordinates (q1, q2, p1, p2) of the optimum",
    "normals": "unit outer facet normals of the optimum",
    "offsets": "facet offsets: the optimum is {x : normals @ x <= offsets}",
    "volume": "volume of the optimum (qhull)",
    "capacity": "certified EHZ capacity of the optimum",
    "capacity_certificate": "confirmed (two exact methods agree), single, or disagreement",
    "capacity_agreeing": "the exact algorithms whose verified values agree",
    "systolic_ratio": "c^2 / (2 vol) of the optimum",
    "minimal_action_cycle": "the certified minimal-action closed characteristic, vertices",
    "start_ratio": "certified systolic ratio at the start",
    "steps": "accepted steps (trials that improved the ratio enough to move the climb)",
    "trials": "trial points evaluated (accepted and rejected)",
    "trajectory": "the incumbent's ratio after every trial",
    "status": "converged, stopped (trial limit), untrusted-start or disagreement",
    "message": "why the climb ended",
    "gradient_norm": "stationarity measure at the end: min-norm convex combination of the branch"
    " gradients met nearby (0 at a Clarke-stationary point)",
    "distinct_branches": "distinct minimal-loop branches (gradients) met around the optimum;"
    " several at a kink, where minimal loops tie",
    "image_ratio": "systolic ratio of the optimum's image under a random symplectic map",
    "image_relative_difference": "|image_ratio - systolic_ratio| / systolic_ratio",
    "verified": "confirmed, and the symplectic image agrees (and, above HK-O, the mpmath check"
    " passed)",
    "verification": "why not verified (empty when verified)",
    "high_precision_ratio": "the mpmath ratio (40 digits) for float ratios above 1.0472135955",
    "above_hko": "the mpmath ratio exceeds HK-O's (3+sqrt5)/5 by more than 1e-9 relative (a"
    " float ratio a rounding above it is not a discovery)",
    "seconds": "wall time of all the start's jobs",
    "schema_version": "version of this schema",
}


def features() -> Features:
    """The dataset's schema (the atlas geometry columns plus the search columns)."""
    spec: dict[str, Any] = {
        "id": Value("string"),
        "search": Value("string"),
        "start": Value("int64"),
        "space": Value("string"),
        "space_params": Value("string"),
        "seed": Value("int64"),
        "start_from": Value("string"),
        "is_lagrangian_product": Value("bool"),
        "dimension": Value("int64"),
        "num_vertices": Value("int64"),
        "num_facets": Value("int64"),
        "vertices": _FLOATS,
        "normals": _FLOATS,
        "offsets": Sequence(Value("float64")),
        "volume": Value("float64"),
        "capacity": Value("float64"),
        "capacity_certificate": Value("string"),
        "capacity_agreeing": Sequence(Value("string")),
        **{f"capacity_{a.replace('-', '_')}": Value("float64") for a in CAPACITY_ALGORITHMS},
        "systolic_ratio": Value("float64"),
        "minimal_action_cycle": _FLOATS,
        "start_ratio": Value("float64"),
        "steps": Value("int64"),
        "trials": Value("int64"),
        "trajectory": Sequence(Value("float64")),
        "status": Value("string"),
        "message": Value("string"),
        "gradient_norm": Value("float64"),
        "distinct_branches": Value("int64"),
        "image_ratio": Value("float64"),
        "image_relative_difference": Value("float64"),
        "verified": Value("bool"),
        "verification": Value("string"),
        "high_precision_ratio": Value("string"),
        "above_hko": Value("bool"),
        "seconds": Value("float64"),
        "schema_version": Value("int64"),
    }
    return Features(spec)


def search_row(state: StartState) -> dict[str, Any]:
    """The dataset row of one finished start."""
    climb, check = state.climb or {}, state.verification or {}
    space = space_from_spec(state.space)
    polytope = polytope_of(space, np.asarray(climb["x"])) if climb.get("ratio") else None
    point = check.get("point") or {}
    image = check.get("symplectic_image") or {}
    capacities = check.get("capacities") or {}
    sizes = {k: v for k, v in state.space.items() if k not in ("space", "jitter")}
    return {
        "id": f"{state.search}/{state.start}",
        "search": state.search,
        "start": state.start,
        "space": state.space["space"],
        "space_params": json.dumps(sizes, sort_keys=True),
        "seed": int(state.seed),
        "start_from": "polytope" if state.start_polytope else "random",
        "is_lagrangian_product": bool(polytope is not None and as_lagrangian_product(polytope)),
        "dimension": 4,
        "num_vertices": polytope.num_vertices if polytope else None,
        "num_facets": polytope.num_facets if polytope else None,
        "vertices": polytope.vertices.tolist() if polytope else None,
        "normals": polytope.normals.tolist() if polytope else None,
        "offsets": polytope.offsets.tolist() if polytope else None,
        "volume": point.get("volume"),
        "capacity": point.get("capacity"),
        "capacity_certificate": point.get("level"),
        "capacity_agreeing": point.get("agreeing"),
        **{
            f"capacity_{a.replace('-', '_')}": (capacities.get(a) or {}).get("value")
            for a in CAPACITY_ALGORITHMS
        },
        "systolic_ratio": point.get("ratio"),
        "minimal_action_cycle": check.get("loop"),
        "start_ratio": climb.get("start_ratio"),
        "steps": climb.get("accepted"),
        "trials": climb.get("trials"),
        "trajectory": climb.get("trajectory"),
        "status": climb.get("status"),
        "message": climb.get("message"),
        "gradient_norm": climb.get("direction_norm"),
        "distinct_branches": check.get("distinct_branches"),
        "image_ratio": image.get("ratio"),
        "image_relative_difference": image.get("relative_difference"),
        "verified": bool(check.get("verified")),
        "verification": check.get("reason") or "",
        "high_precision_ratio": (check.get("high_precision") or {}).get("ratio") or "",
        "above_hko": bool(check.get("above_hko")),
        "seconds": round(state.seconds, 3),
        "schema_version": SCHEMA_VERSION,
    }


def export_search(
    store: JobStore, out: Path, *, search: str | None = None, allow_partial: bool = False
) -> dict[str, Any]:
    """Write the dataset of ``search`` (or of every search) to ``out``.

    Refuses (nothing written) while a start is unfinished, unless ``allow_partial`` (then
    only the finished starts are published, and the card says how many were left out).
    """
    states = start_states(store, search)
    finished = [s for s in states if s.finished]
    unfinished = len(states) - len(finished)
    if not finished:
        raise ExportError("nothing to export: no search start has finished yet")
    if unfinished and not allow_partial:
        raise ExportError(
            f"{unfinished} of {len(states)} search starts are unfinished: run `atlas work`"
            " (or pass --allow-partial)"
        )
    rows = [search_row(s) for s in finished]
    feats = features()
    manifest = _manifest(rows, feats, unfinished)
    target = Path(out).resolve()
    _require_writable_folder(target)
    sweep_stale_scratch(target)
    tmp = _scratch_path(target, "tmp")
    try:
        tmp.mkdir()
        _write_parquet(rows, feats, tmp / "data")
        (tmp / "README.md").write_text(_card(manifest, rows))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _report(tmp / "report", rows)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"path": str(target), "rows": len(rows), "content_hash": manifest["content_hash"]}


def best_rows(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The best verified row per space (``space:params``)."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not row["verified"] or row["systolic_ratio"] is None:
            continue
        key = f"{row['space']}:{row['space_params']}"
        if key not in best or row["systolic_ratio"] > best[key]["systolic_ratio"]:
            best[key] = row
    return dict(sorted(best.items()))


def _manifest(rows: list[dict[str, Any]], feats: Features, unfinished: int) -> dict[str, Any]:
    per_space: dict[str, int] = defaultdict(int)
    for row in rows:
        per_space[f"{row['space']}:{row['space_params']}"] += 1
    non_products = [r for r in rows if r["verified"] and not r["is_lagrangian_product"]]
    best_other = max(non_products, key=lambda r: r["systolic_ratio"], default=None)
    return {
        "name": "atlas-search",
        "schema_version": SCHEMA_VERSION,
        "code_version": _git_commit(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rows": len(rows),
        "rows_per_space": dict(sorted(per_space.items())),
        "searches": sorted({r["search"] for r in rows}),
        "unfinished_starts_left_out": unfinished,
        "verified": sum(r["verified"] for r in rows),
        "above_hko": sum(bool(r["verified"] and r["above_hko"]) for r in rows),
        "best_per_space": {k: _brief(r) for k, r in best_rows(rows).items()},
        "best_not_lagrangian_product": _brief(best_other) if best_other else None,
        "content_hash": content_hash(rows, feats),
    }


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "systolic_ratio": row["systolic_ratio"],
        "capacity_certificate": row["capacity_certificate"],
        "num_facets": row["num_facets"],
        "distinct_branches": row["distinct_branches"],
        "gradient_norm": row["gradient_norm"],
    }


def _card(manifest: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    lines = [
        *YAML_HEADER,
        "",
        "# atlas-search",
        "",
        "Local maxima of the systolic ratio sys = c_EHZ^2 / (2 vol) of convex polytopes in R^4,",
        "found by `atlas search` (a proximal bundle climb over the exact branch gradients of",
        "log sys; see `viterbo.search`). One row per start: the optimum in the atlas schema and",
        "the climb that reached it. Only *trusted* values steered a climb (the strongest",
        "certificate level available at every trial point).",
        "",
        f"Rows: {manifest['rows']}; verified optima: {manifest['verified']}; verified optima above"
        f" HK-O in high precision (by more than 1e-9 relative): {manifest['above_hko']}.",
    ]
    if manifest["unfinished_starts_left_out"]:
        lines.append(
            f"**Partial:** {manifest['unfinished_starts_left_out']} unfinished starts are left out."
        )
    lines += ["", "## Best verified optimum per space", "", "| space | id | sys | level |"]
    lines.append("|---|---|---|---|")
    for space, brief in manifest["best_per_space"].items():
        lines.append(
            f"| {space} | {brief['id']} | {brief['systolic_ratio']:.10f} |"
            f" {brief['capacity_certificate']} |"
        )
    other = manifest["best_not_lagrangian_product"]
    if other:
        lines += [
            "",
            f"Best verified ratio among optima that are not Lagrangian products: "
            f"{other['systolic_ratio']:.10f} ({other['id']}, {other['num_facets']} facets).",
        ]
    lines += ["", "## Columns", "", "| column | meaning |", "|---|---|"]
    for name in features():
        doc = COLUMN_DOCS.get(name)
        if doc is None and name.startswith("capacity_"):
            doc = (
                f"the value of {name[9:].replace('_', '-')} at the optimum (empty if it gave none)"
            )
        lines.append(f"| `{name}` | {doc} |")
    return "\n".join(lines) + "\n"


def _report(folder: Path, rows: list[dict[str, Any]]) -> None:
    # Lazy: matplotlib (~0.3 s) is only needed when a dataset is written.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir()
    fig, ax = plt.subplots(figsize=(7, 4))
    for row in rows:
        if row["trajectory"]:
            ax.plot(row["trajectory"], lw=0.8, alpha=0.7)
    ax.axhline(HKO_RATIO, color="k", ls="--", lw=0.8, label="HK-O")
    ax.axhline(1.0, color="grey", ls=":", lw=0.8, label="ball")
    ax.set_xlabel("trial")
    ax.set_ylabel("certified systolic ratio")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(folder / "convergence.png", dpi=110)
    plt.close(fig)
    best = best_rows(rows)
    lines = ["# atlas-search report", "", "![convergence](convergence.png)", ""]
    lines += ["| space | starts | verified | best sys | median sys |", "|---|---|---|---|---|"]
    by_space: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_space[f"{row['space']}:{row['space_params']}"].append(row)
    for space, group in sorted(by_space.items()):
        ratios = [r["systolic_ratio"] for r in group if r["systolic_ratio"] is not None]
        top = best.get(space)
        best_text = f"{top['systolic_ratio']:.10f}" if top else "–"
        median_text = f"{float(np.median(ratios)):.6f}" if ratios else "–"
        verified = sum(r["verified"] for r in group)
        lines.append(f"| {space} | {len(group)} | {verified} | {best_text} | {median_text} |")
    overall = max(best.values(), key=lambda r: r["systolic_ratio"], default=None)
    if overall is not None:
        _draw_best(folder / "best.png", overall)
        lines += [
            "",
            f"Best verified optimum: {overall['id']}, sys = {overall['systolic_ratio']:.10f}"
            f" ({overall['capacity_certificate']}, {overall['distinct_branches']} minimal-loop"
            f" branches, gradient norm {overall['gradient_norm']:.1e}).",
            "",
            "![best](best.png)",
        ]
    failures = [r for r in rows if not r["verified"]]
    if failures:
        lines += ["", "## Not verified", ""]
        lines += [
            f"* {r['id']}: {r['status']}; {r['verification'] or r['message']}" for r in failures
        ]
    (folder / "report.md").write_text("\n".join(lines) + "\n")


def _draw_best(path: Path, row: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt  # lazy: see _report

    vertices = np.asarray(row["vertices"])
    loop = np.asarray(row["minimal_action_cycle"] or np.zeros((0, 4)))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, (i, j), label in zip(axes, ((0, 1), (2, 3)), ("q", "p"), strict=True):
        ax.scatter(vertices[:, i], vertices[:, j], s=8, color="grey")
        if len(loop):
            closed = np.vstack([loop, loop[:1]])
            ax.plot(closed[:, i], closed[:, j], color="C3", lw=1.5)
        ax.set_title(f"{label}-projection")
        ax.set_aspect("equal")
    fig.suptitle(f"{row['id']}: sys = {row['systolic_ratio']:.8f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["best_rows", "export_search", "features", "search_row"]
