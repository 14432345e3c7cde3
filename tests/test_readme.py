"""The README says what the code and the committed snapshots do.

Its numbers are read back from the snapshots' manifests, its quick start must leave the checkout
clean, and its test command must be the one CI runs.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
DATASETS = REPO / "artefacts" / "datasets"


def _manifest(name: str) -> dict:
    return json.loads((DATASETS / name / "manifest.json").read_text(encoding="utf-8"))


def _bash_blocks(section: str) -> list[str]:
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", body, flags=re.S)


def _normalised(text: str) -> str:
    return " ".join(text.split())


def test_snapshot_sizes_and_certificate_counts_are_the_manifests() -> None:
    text = _normalised(README)
    tiny, small = _manifest("atlas-tiny"), _manifest("atlas-small")
    levels = tiny["certificate_levels"]
    assert (
        f"`artefacts/datasets/atlas-tiny/` ({tiny['rows']} polytopes, one per family, a smoke test; "
        f"certificates: {levels['confirmed']} confirmed, {levels['single']} single)"
    ) in text
    assert levels.get("disagreement", 0) == 0 and levels.get("none", 0) == 0
    levels = small["certificate_levels"]
    assert (
        f"`artefacts/datasets/atlas-small/` ({small['rows']} polytopes over every family; "
        f"certificates: {levels['confirmed']} confirmed, {levels['single']} single, "
        f"{levels['disagreement']} disagreement, {levels['none']} without a capacity; "
        f"{small['unconfirmed_high_ratios']} unconfirmed systolic ratios above"
    ) in text
    # every other mention of a snapshot size is the same number
    for count in re.findall(r"atlas-small[^.]*? (\d+) polytopes", text):
        assert int(count) == small["rows"]


def test_policy_numbers_are_the_presets() -> None:
    default = _manifest("atlas-small")["policy"]["default"]
    text = _normalised(README)
    assert (
        f"`haim-kislev` runs on polytopes with <= {default['capacity/haim-kislev']['max_facets']} facets"
        in text
    )
    assert (
        f"(capacity {default['capacity/reeb']['max_paths']} paths, "
        f"spectrum {default['spectrum/reeb']['max_paths']} paths;"
    ) in text
    assert (
        f"(capacity {default['capacity/reeb']['time_limit_s']:g} s, "
        f"spectrum {default['spectrum/reeb']['time_limit_s']:g} s)"
    ) in text


def test_quick_start_writes_outside_the_checkout() -> None:
    (install,) = _bash_blocks("Quick start")[:1]
    words = shlex.split(install.replace("&&", " "))
    build = words[words.index(".venv/bin/atlas") :]
    assert build[:3] == [".venv/bin/atlas", "build", "tiny"]
    db, out = build[build.index("--db") + 1], build[build.index("--out") + 1]
    for target in (Path(db.removeprefix("sqlite:///")), Path(out)):
        assert target.is_absolute() and REPO not in target.resolve().parents, target


def test_ci_runs_the_readme_test_command() -> None:
    blocks = _bash_blocks("Quick start")
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    assert test_command in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_every_notebook_is_linked_executed_and_run_by_the_test_command() -> None:
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 2
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"notebooks"' in pyproject and "--nbmake" in pyproject  # `pytest -q` executes them
    for path in notebooks:
        assert f"](notebooks/{path.name})" in README, path.name
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        # Committed with its outputs, in order: a reader sees the plots without running it.
        assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), path.name
        assert any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]), path.name
