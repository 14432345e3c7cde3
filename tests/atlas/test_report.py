"""The benchmark report (viterbo.atlas.report) on hand-made job logs and rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from viterbo.atlas import report
from viterbo.atlas.export import policy_summary
from viterbo.atlas.presets import PRESETS, PresetItem, ngon_angle_sample


def job(
    job_id: int,
    pid: str,
    what: str,
    status: str = "done",
    wall: float | None = 0.1,
    facets: int = 8,
    family: str = "fam",
    reason: str = "",
    etype: str = "",
    start: float | None = None,
    owner: str = "w1",
) -> dict[str, Any]:
    quantity, _, algorithm = what.partition("/")
    return {
        "job_id": job_id,
        "polytope_id": pid,
        "family": family,
        "kind": "quantity" if algorithm else what,
        "quantity": quantity if algorithm else "",
        "algorithm": algorithm,
        "num_facets": facets,
        "status": status,
        "attempts": 1,
        "wall_s": wall,
        "cpu_s": wall,
        "peak_mb": 90.0,
        "error_type": etype,
        "reason": reason,
        "started_at": start,
        "finished_at": None if start is None or wall is None else start + wall,
        "lease_owner": owner if start is not None else "",
    }


def row(
    pid: str,
    family: str = "fam",
    sys: float | None = 0.5,
    dim: int = 4,
    level: str | None = "confirmed",
    **caps: float | None,
) -> dict[str, Any]:
    r = {
        "id": pid,
        "family": family,
        "params": "{}",
        "dimension": dim,
        "num_facets": 8,
        "capacity": 1.0,
        "volume": 1.0,
        "capacity_algorithm": "a",
        "capacity_certificate": level,
        "systolic_ratio": sys,
    }
    for name in ("a", "b", "c"):
        r[f"capacity_{name}"] = caps.get(name)
    return r


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert report.percentile(values, 0.95) == 19.0
    assert report.percentile(values, 1.0) == 20.0
    assert report.percentile([3.0], 0.5) == 3.0
    assert report.percentile([], 0.5) is None


def test_timing_per_family_and_algorithm() -> None:
    log = [
        job(i, f"p{i}", "capacity/a", wall=float(i), family="f" if i < 5 else "g")
        for i in range(1, 11)
    ]
    log.append(
        job(11, "p11", "capacity/a", status="skipped", wall=None, family="g", reason="policy: x")
    )
    s = report.summarise(log, [], ["a"])
    f, g = (
        s["per_family_algorithm"]["f"]["capacity/a"],
        s["per_family_algorithm"]["g"]["capacity/a"],
    )
    assert (f["jobs"], f["wall_s_median"], f["wall_s_p95"], f["wall_s_max"]) == (4, 2.5, 4.0, 4.0)
    assert (g["jobs"], g["status"], g["wall_s_median"], g["wall_s_max"]) == (
        7,
        {"done": 6, "skipped": 1},
        7.5,
        10.0,
    )
    assert s["per_algorithm"]["capacity/a"]["wall_s_total"] == 55.0
    assert s["status"] == {"done": 10, "skipped": 1}


def test_growth_with_facets() -> None:
    log = [
        job(1, "p", "capacity/a", wall=1.0, facets=8),
        job(2, "q", "capacity/a", wall=3.0, facets=8),
        job(3, "r", "capacity/a", wall=10.0, facets=12),
        job(4, "r", "generate", wall=5.0, facets=12),
    ]
    g = report.growth(log)
    assert g == {
        "capacity/a": {
            "8": {"jobs": 2, "wall_s_median": 2.0, "wall_s_max": 3.0},
            "12": {"jobs": 1, "wall_s_median": 10.0, "wall_s_max": 10.0},
        }
    }


def test_status_classes_group_by_cause_with_an_example() -> None:
    log = [
        job(
            1,
            "fam:x:000002",
            "capacity/hk",
            "failed",
            etype="HKError",
            reason="more than 5000000 facet cycles",
        ),
        job(
            2,
            "fam:x:000001",
            "capacity/hk",
            "failed",
            etype="HKError",
            reason="more than 5000000 facet cycles",
        ),
        job(3, "fam:x:000003", "capacity/hk", "failed", etype="ValueError", reason="boom"),
        job(
            4,
            "fam:x:000001",
            "spectrum/reeb",
            "timed_out",
            etype="TimeBudgetExceeded",
            reason="time budget exceeded after 9.8 s: 14272 paths expanded",
        ),
        job(
            5,
            "fam:x:000002",
            "spectrum/reeb",
            "timed_out",
            etype="TimeBudgetExceeded",
            reason="time budget exceeded after 9.1 s: 99 paths expanded",
        ),
        job(
            6,
            "fam:x:000004",
            "capacity/reeb",
            "not_applicable",
            wall=None,
            reason="polytope has a Lagrangian 2-face F_1 ∩ F_7 (omega(n_1, n_7) = 0)",
        ),
        job(
            7,
            "fam:x:000005",
            "capacity/reeb",
            "not_applicable",
            wall=None,
            reason="polytope has a Lagrangian 2-face F_2 ∩ F_3 (omega(n_2, n_3) = 1e-17)",
        ),
        job(
            8,
            "fam:x:000006",
            "capacity/hk",
            "skipped",
            wall=None,
            reason="policy: capacity/hk limited to <= 12 facets (this polytope has 16)",
        ),
    ]
    classes = report.status_classes(log)
    failed = classes["failed"]
    assert [(c["error_type"], c["count"], c["example_id"]) for c in failed] == [
        ("HKError", 2, "fam:x:000001"),
        ("ValueError", 1, "fam:x:000003"),
    ]
    assert [(c["what"], c["count"]) for c in classes["timed_out"]] == [("spectrum/reeb", 2)]
    assert [(c["what"], c["count"]) for c in classes["not_applicable"]] == [("capacity/reeb", 2)]
    assert classes["skipped"][0]["example_reason"].startswith(
        "policy: capacity/hk limited to <= 12"
    )


def test_agreement_lists_every_disagreement() -> None:
    rows = [
        row("p1", a=1.0, b=1.0 + 1e-12, c=None),
        row("p2", a=2.0, b=2.1, c=2.0),
        row("p3", a=None, b=3.0, c=3.0),
    ]
    pairs, dis = report.agreement(rows, ["a", "b", "c"])
    assert pairs["a vs b"]["polytopes"] == 2 and pairs["a vs b"]["disagreements"] == 1
    assert pairs["a vs b"]["worst_id"] == "p2"
    assert pairs["a vs b"]["max_relative_difference"] == pytest.approx(0.1 / 2.1)
    assert pairs["a vs c"] == {
        "polytopes": 1,
        "max_relative_difference": 0.0,
        "worst_id": "p2",
        "disagreements": 0,
    }
    assert [(d["id"], d["pair"]) for d in dis] == [("p2", "a vs b"), ("p2", "b vs c")]
    # Only exact algorithms are compared when the set is given.
    pairs, _ = report.agreement(rows, ["a", "b", "c"], exact={"a", "c"})
    assert list(pairs) == ["a vs c"]


def test_systolic_per_family_and_top_ten_without_polygons() -> None:
    rows = [row(f"f{i:02d}", "f", sys=0.1 * i) for i in range(12)]
    rows += [
        row("g1", "g", sys=1.05),
        row("poly", "polygon", sys=1.0, dim=2),
        row("none", "g", sys=None),
    ]
    stats, top = report.systolic(rows)
    assert stats["g"] == {"polytopes": 1, "min": 1.05, "median": 1.05, "max": 1.05, "above_one": 1}
    assert stats["polygon"]["polytopes"] == 1 and stats["f"]["polytopes"] == 12
    assert stats["f"]["above_one"] == 1  # 1.1
    assert [t["id"] for t in top] == [
        "f11",
        "g1",
        "f10",
        "f09",
        "f08",
        "f07",
        "f06",
        "f05",
        "f04",
        "f03",
    ]


def test_certificate_levels_and_why_single_rows_have_one_algorithm() -> None:
    rows = [
        row("c1"),
        row("c2"),
        row("s1", level="single"),
        row("s2", level="single"),
        row("d1", level="disagreement"),
        row("n1", level=None),
    ]
    for r, (sb, sc) in zip(
        rows[2:4], [("not_applicable", "timed_out"), ("not_applicable", "failed")], strict=True
    ):
        r["status_b"], r["status_c"] = sb, sc
    assert report.certificate_levels(rows) == {
        "confirmed": 2,
        "single": 2,
        "disagreement": 1,
        "none": 1,
    }
    assert report.single_certificates(rows, ["a", "b", "c"]) == {
        "a": {"rows": 2, "b not_applicable": 2, "c failed": 1, "c timed_out": 1}
    }
    summary = report.summarise([], rows, ["a", "b", "c"])
    assert summary["single_certificates"] == {
        "a": {"rows": 2}
    }  # "b", "c" are no registered exact algorithms
    summary["single_certificates"] = report.single_certificates(rows, ["a", "b", "c"])
    text = report.report_markdown(summary, {})
    assert "- `confirmed`: 2 -- two or more independent exact algorithms agree" in text
    assert (
        "- `single` from a (2): the others -- b not_applicable 2, c failed 1, c timed_out 1" in text
    )
    assert "- no certified capacity: 1" in text


def test_unconfirmed_high_ratios_are_listed_first() -> None:
    hko = (3 + math.sqrt(5)) / 5
    rows = [
        row("hko", sys=hko, level="single"),  # equal to HK-O: not above it
        row("big-confirmed", sys=1.2),  # confirmed: a claim the atlas may make
        row("big-single", sys=1.1, level="single"),
        row("bigger-split", sys=1.3, level="disagreement"),
        row("big-none", sys=1.05, level=None),
    ]
    high = report.unconfirmed_high_ratios(rows)
    assert [h["id"] for h in high] == ["bigger-split", "big-single", "big-none"]
    assert high[0]["capacity_certificate"] == "disagreement"
    summary = report.summarise([], rows, ["a"])
    assert [h["id"] for h in summary["unconfirmed_high_ratios"]] == [
        "bigger-split",
        "big-single",
        "big-none",
    ]
    text = report.report_markdown(summary, {})
    first_section = text.split("\n## ")[1]
    assert first_section.startswith("Unconfirmed high ratios (systolic ratio > 1.0472135955")
    assert "`bigger-split`" in first_section and "`big-confirmed`" not in first_section
    assert "`hko`" not in first_section
    calm = report.report_markdown(report.summarise([], rows[:2], ["a"]), {})
    assert "None: every ratio above Haim-Kislev--Ostrover's is confirmed" in calm.split("\n## ")[1]


def test_build_time_and_utilisation() -> None:
    log = [
        job(1, "p", "capacity/a", wall=4.0, start=100.0, owner="w1"),
        job(2, "q", "capacity/a", wall=4.0, start=100.0, owner="w2"),
        job(3, "q", "capacity/b", wall=2.0, start=106.0, owner="w2"),
        job(4, "q", "capacity/c", "not_applicable", wall=None),
    ]
    b = report.build_figures(log)
    assert b["build_seconds"] == 8.0 and b["workers"] == 2 and b["busy_seconds"] == 10.0
    assert b["utilisation"] == pytest.approx(10.0 / 16.0)


def test_write_report_has_every_section_and_plots(tmp_path: Path) -> None:
    log = [
        job(1, "p1", "capacity/a", wall=0.5, start=0.0),
        job(2, "p1", "capacity/b", "failed", wall=0.2, etype="E", reason="bad | pipe", start=0.5),
        job(3, "p1", "volume/q", wall=0.01, start=0.7),
    ]
    rows = [row("p1", a=1.0, b=None)]
    policy = {"default": {"capacity/b": {"max_facets": 12}}}
    summary = report.summarise(log, rows, ["a", "b"], policy=policy)
    json.dumps(summary)  # JSON-ready
    path = report.write_report(tmp_path, summary, log, rows)
    text = path.read_text()
    for heading in (
        "## Build",
        "## Run policy",
        "## Time per family x algorithm",
        "## Growth with facet count",
        "## Failures (1 jobs, 1 classes)",
        "## Timeouts (0 jobs",
        "## Not applicable",
        "## Skipped by policy",
        "## Agreement between exact capacity algorithms",
        "## Systolic ratio per family",
        "### Top 10",
    ):
        assert heading in text, heading
    assert "bad \\| pipe" in text  # table cells are escaped
    assert "`capacity/b`: max_facets 12" in text
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "growth.png",
        "systolic.png",
        "wall_times.png",
    ]
    # Deterministic: the same summary gives the same bytes.
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    report.write_report(tmp_path, summary, log, rows)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first


def test_policy_summary_names_the_default_and_the_exceptions() -> None:
    base = {"capacity/reeb": {"max_facets": 12}}
    wide = {"capacity/reeb": {"max_facets": 24}}
    items = [
        PresetItem("a", {}, 10, base),
        PresetItem("b", {"n": 1}, 3, base),
        PresetItem("b", {"n": 2}, 2, wide),
        PresetItem("c", {"n": 1}, 1, wide),
        PresetItem("c", {"n": 2}, 1, wide),
    ]
    assert policy_summary(items) == {"default": base, 'b {"n": 2}': wide, "c": wide}
    assert policy_summary([PresetItem("a", {}, 3)]) == {}


def test_presets_cover_every_family_and_the_counterexample() -> None:
    from viterbo.families import FAMILIES

    tiny = {it.family for it in PRESETS["tiny"]}
    small = {it.family for it in PRESETS["small"]}
    assert tiny == small == set(FAMILIES)
    assert {it.params["name"] for it in PRESETS["tiny"] if it.family == "catalog"} >= {
        "hko-pentagon-product"
    }
    ngons = [it.params for it in PRESETS["small"] if it.family == "product-ngons"]
    assert {"k_P": 5, "k_Q": 5, "r": 1, "s": 20} in ngons
    assert {(p["k_P"], p["k_Q"]) for p in ngons} >= {
        (a, b) for a in range(3, 9) for b in range(a, 9)
    }
    assert len({(p["k_P"], p["k_Q"], p["r"] / p["s"]) for p in ngons}) >= 200
    assert 800 <= sum(it.count for it in PRESETS["small"]) <= 1200
    # Every item carries a policy that limits haim-kislev.
    assert all(
        it.policy.get("capacity/haim-kislev", {}).get("max_facets") for it in PRESETS["small"]
    )


def test_ngon_angle_sample_is_spread_and_canonical() -> None:
    from viterbo.families import product_ngon_angles

    sample = ngon_angle_sample(3, 4, 14)
    assert len(sample) == 14 and sample[0] == (0, 1)
    everything = product_ngon_angles(3, 4, 60)
    assert set(sample) <= set(everything) and sample[-1] == everything[-1]
    assert (1, 20) in ngon_angle_sample(5, 5, 14)


def test_symplectic_invariance_compares_images_with_their_base() -> None:
    from viterbo.atlas.jobs import polytope_key

    base_params = {"facets": 8}
    base_id = polytope_key("halfspace", base_params, 3)
    base = {**row(base_id, "halfspace"), "volume": 2.0, "capacity": 1.5, "spectrum": [1.5, 2.0]}
    image_params = {"base_family": "halfspace", "base_params": base_params, "base_index": 3}
    same = {
        **row("img:1", "symplectic-image"),
        "params": json.dumps(image_params),
        "volume": 2.0 + 1e-13,
        "capacity": 1.5,
        "spectrum": [1.5, 2.0],
    }
    other = {
        **row("img:2", "symplectic-image"),
        "params": json.dumps(image_params),
        "volume": 2.0,
        "capacity": 1.5 * (1 + 1e-3),
        "spectrum": [1.5, 2.1],
    }
    orphan = {
        **row("img:3", "symplectic-image"),
        "params": json.dumps({**image_params, "base_index": 99}),
        "spectrum": None,
    }
    inv = report.symplectic_invariance([base, same, other, orphan])
    assert inv["pairs"] == 2
    assert inv["volume"]["compared"] == 2
    assert inv["volume"]["max_relative_difference"] == pytest.approx(0.5e-13, rel=1e-3)
    assert inv["capacity"]["worst_id"] == "img:2"
    assert inv["capacity"]["max_relative_difference"] == pytest.approx(1e-3 / (1 + 1e-3), rel=1e-9)
    assert inv["spectrum"] == {"compared": 2, "differ": 1, "differing_ids": ["img:2"]}
    text = report.report_markdown(report.summarise([], [base, same, other], ["a"]), {})
    assert "## Symplectic invariance (images vs their base polytopes)" in text
    assert "different: 1 (`img:2`)" in text


def test_policy_limits_are_written_in_full() -> None:
    from viterbo.atlas.report import policy_lines

    text = "\n".join(
        policy_lines({"default": {"capacity/reeb": {"max_paths": 3000000, "time_limit_s": 2.5}}})
    )
    assert "max_paths 3000000, time_limit_s 2.5" in text  # not 3e+06
