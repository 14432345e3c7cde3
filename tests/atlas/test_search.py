"""`atlas search` through the job store: the same climbs as the Python API, resumable after
SIGKILL, visible in `atlas status`, published as a dataset; bad input is one line."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path

import datasets
import pytest
from sqlalchemy.engine import Engine

from tests.atlas.conftest import ATLAS, REPO_ROOT, atlas_env
from viterbo.atlas.errors import ExportError
from viterbo.atlas.search.publish import export_search
from viterbo.atlas.search.results import start_states
from viterbo.atlas.store import JobStore
from viterbo.search import LagrangianProductSpace, search

SPACE, STARTS, TRIALS, PER_JOB = "lagrangian-product:3,3", 2, 12, 3


def _env(db_url: str) -> dict[str, str]:
    env = atlas_env(db_url)
    env.pop("ATLAS_TEST_ISOLATED_REGISTRY")  # searches need the real capacity algorithms
    return env


def _atlas(args: list[str], db_url: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ATLAS, *args], env=_env(db_url), cwd=REPO_ROOT, text=True, capture_output=True,
        timeout=timeout,
    )  # fmt: skip


def _search_args(name: str, *extra: str) -> list[str]:
    return ["search", name, "--space", SPACE, "--starts", str(STARTS),
            "--max-trials", str(TRIALS), "--trials-per-job", str(PER_JOB), "--seed", "3",
            *extra]  # fmt: skip


@pytest.fixture(scope="module")
def expected() -> list[dict]:
    """The climbs of the Python API, without a store."""
    return [
        r.climb.to_json()
        for r in search(LagrangianProductSpace(3, 3), STARTS, seed=3, max_trials=TRIALS)
    ]


def test_a_search_in_the_store_is_the_python_search(
    db_url: str, engine: Engine, tmp_path: Path, expected: list[dict]
) -> None:
    out = tmp_path / "search-snapshot"
    done = _atlas([*_search_args("demo", "--out", str(out)), "--workers", "2"], db_url)
    assert done.returncode == 0, done.stderr
    states = start_states(JobStore(engine), "demo")
    assert [s.climb for s in states] == expected
    assert all(s.finished and s.verification["verified"] for s in states)
    # A job (the checkpoint unit) takes PER_JOB trials after the start's first job.
    assert all(
        s.step >= math.ceil(c["trials"] / PER_JOB) for s, c in zip(states, expected, strict=True)
    )
    rows = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf-cache"))
    assert rows.num_rows == STARTS
    assert rows["systolic_ratio"] == [c["ratio"] for c in expected]
    assert set(rows["capacity_certificate"]) == {"confirmed"}
    assert all(rows["is_lagrangian_product"])
    assert all(d < 1e-8 for d in rows["image_relative_difference"])
    status = _atlas(["status"], db_url)
    assert "demo [lagrangian-product:3,3]: 2/2 starts done" in status.stdout
    again = _atlas([*_search_args("demo", "--enqueue-only")], db_url)
    assert "0 new starts" in again.stderr  # idempotent


def test_a_killed_search_resumes_to_the_same_result(
    db_url: str, engine: Engine, expected: list[dict]
) -> None:
    assert _atlas([*_search_args("resume", "--enqueue-only")], db_url).returncode == 0
    store = JobStore(engine)
    victim = subprocess.Popen(
        [*ATLAS, "work", "--workers", "1", "--lease-seconds", "1.5"], env=_env(db_url),
        cwd=REPO_ROOT, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while sum(s.step for s in start_states(store, "resume")) < 4:
        assert time.monotonic() < deadline, "the search made no progress"
        time.sleep(0.1)
    os.killpg(victim.pid, signal.SIGKILL)  # the whole `atlas work`, mid-step
    victim.communicate(timeout=30)
    assert not all(s.finished for s in start_states(store, "resume"))
    with pytest.raises(ExportError, match="finished"):
        export_search(store, Path("/tmp/never-written"), search="resume")
    done = _atlas(["work", "--workers", "2", "--lease-seconds", "1.5"], db_url)
    assert done.returncode == 0, done.stderr
    assert [s.climb for s in start_states(store, "resume")] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "x", "--space", "cube:3"], "bad search space"),
        (["search", "x"], "needs --space"),
        (["search", "bad name!", "--space", SPACE], "bad search name"),
        (["search", "x", "--from-family", "no-such-family", "--starts", "1"], "no-such-family"),
    ],
)
def test_bad_search_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path}/a.sqlite"
    result = _atlas(args, url, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["pentagons", "a:b", "x-1"])
def test_search_job_keys_round_trip(name: str) -> None:
    from viterbo.atlas.jobs import parse_search_job_key, search_job_key

    assert parse_search_job_key(search_job_key(name, 7, 123)) == (name, 7, 123)


def test_a_search_from_a_family_starts_at_the_familys_polytopes() -> None:
    from viterbo.atlas.search.plan import family_starts, start_specs
    from viterbo.geometry import Polytope
    from viterbo.search.run import begin
    from viterbo.search.spaces import parse_space

    space = parse_space("lagrangian-product:5,5")
    polytopes = family_starts("product-ngons", {"k_P": 5, "k_Q": 5, "r": 1, "s": 4}, 2)
    specs = start_specs("hko", space, starts=3, seed=1, polytopes=polytopes)
    assert ["polytope" in spec.params for spec in specs] == [True, True, False]
    stored = Polytope.from_dict(specs[0].params["polytope"])
    climb = begin(space, 1, 0, polytope=stored)
    # The family's pentagon product is HK-O itself: the climb starts on it, certified.
    assert climb.level == "confirmed"
    assert climb.ratio == pytest.approx((3 + 5**0.5) / 5, rel=1e-12)


HKO_RATIO = (3 + 5**0.5) / 5
PENTAGONS = {"k_P": 5, "k_Q": 5, "r": 1, "s": 4}  # product-ngons' HK-O member


def test_atlas_search_from_a_family_and_from_a_file_starts_at_hko(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    # End to end through the CLI: the start is the family's (or the file's) polytope in its
    # own space (a 5-gon x 5-gon Lagrangian product), certified at HK-O before any step.
    import json

    from viterbo.atlas.search.plan import family_starts

    [hko] = family_starts("product-ngons", PENTAGONS, 1)
    polytope_file = tmp_path / "hko.json"
    polytope_file.write_text(json.dumps({"vertices": hko.vertices.tolist()}))
    runs = {
        "from-family": ["--from-family", "product-ngons", "--family-params", json.dumps(PENTAGONS)],
        "from-file": ["--from-file", str(polytope_file)],
    }
    for name, extra in runs.items():
        done = _atlas(["search", name, *extra, "--starts", "1", "--max-trials", "4"], db_url)
        assert done.returncode == 0, done.stderr
        [state] = start_states(JobStore(engine), name)
        assert state.finished
        assert state.climb["space"]["space"] == "lagrangian-product"
        assert (state.climb["space"]["k"], state.climb["space"]["l"]) == (5, 5)
        assert state.climb["start_ratio"] == pytest.approx(HKO_RATIO, rel=1e-12)
        assert state.climb["level"] == "confirmed"
        # HK-O is a local maximum: four trials find nothing above it (beyond rounding).
        assert state.climb["ratio"] <= HKO_RATIO * (1 + 1e-12)
        assert state.verification["verified"], state.verification["reason"]
    status = _atlas(["status"], db_url)
    assert "from-family [lagrangian-product:5,5]: 1/1 starts done" in status.stdout
    assert "from-file [lagrangian-product:5,5]: 1/1 starts done" in status.stdout
