"""The dataset card (``README.md`` of a snapshot): schema, families, algorithms, policy, levels."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from viterbo.atlas import report
from viterbo.atlas.export.rows import SCHEMA_VERSION
from viterbo.families import describe
from viterbo.invariants import registry
from viterbo.invariants.certified import LEVELS
from viterbo.invariants.systolic import HKO_SYSTOLIC_RATIO

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
    "spectrum": "lowest actions of closed Reeb orbits (reeb spectrum search; each the action of a verified loop; closures the composed maps cannot decide are decided by their closure equations), where it applies and finished",
    "spectrum_exact": "whether the spectrum search claims to list every closed characteristic in its window (false: a closure it could not decide; null: no spectrum or no claim recorded)",
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
    wanted = {f"| `{f}` |" for f in families}
    lines = describe().splitlines()
    return lines[:2] + [line for line in lines[2:] if any(line.startswith(w) for w in wanted)]


def _algorithm_lines(quantities: list[str]) -> list[str]:
    out = []
    for key in quantities:
        quantity, _, name = key.partition("/")
        try:
            alg = registry.get(quantity, name)
            out.append(f"- `{key}`{' (exact)' if alg.exact else ''}: {alg.description}")
        except KeyError:
            out.append(f"- `{key}`")
    return out


# The card's YAML front matter: the `datasets` config (one train split of Parquet shards),
# shared by every snapshot the atlas publishes (atlas-*, atlas-search).
YAML_HEADER = (
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
)


def _dataset_card(name: str, manifest: dict[str, Any], feats: Any) -> str:
    policy = manifest.get("policy") or {}
    lines = [
        *YAML_HEADER,
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
    drift = manifest.get("policy_drift") or {}
    if policy or drift:
        lines += ["## Run policy", "", *report.policy_lines(policy, drift), ""]
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
