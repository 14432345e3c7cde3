"""The `atlas` command line as users run it: happy paths and every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text

from tests.atlas.conftest import run_atlas
from viterbo.atlas.cli import main
from viterbo.atlas.db import make_engine, open_database
from viterbo.atlas.models import jobs_table
from viterbo.atlas.store import JobSpec, JobStore


def invoke(args: list[str], db_url: str | None = None) -> Any:
    """Run the CLI in this process (fast; for cases that start no workers)."""
    result = CliRunner().invoke(
        main, args, env={"ATLAS_DB": db_url} if db_url else {}, catch_exceptions=True
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # an unhandled error would have been a traceback for the user
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def _assert_user_error(result: object, *needles: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_enqueue_work_status_export_round_trip(db_url: str, tmp_path: Path) -> None:
    first = invoke(["enqueue", "test-boxes"], db_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("5 new jobs queued")
    again = invoke(["enqueue", "test-boxes"], db_url)
    assert again.stdout.startswith("0 new jobs queued")
    worked = run_atlas(["work", "--workers", "2"], db_url)
    assert worked.returncode == 0, worked.stderr
    status = invoke(["status"], db_url)
    assert status.returncode == 0
    assert "done 35" in status.stdout and "not_applicable 5" in status.stdout
    assert "capacity/never" in status.stdout and "test-box" in status.stdout
    out = tmp_path / "export"
    exported = invoke(["export", "atlas-test-boxes", "--out", str(out)], db_url)
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == 5 and manifest["preset"] == "test-boxes"


def test_export_of_an_unfinished_build_exits_2_with_the_counts(db_url: str, tmp_path: Path) -> None:
    assert invoke(["enqueue", "test-boxes"], db_url).returncode == 0
    out = tmp_path / "export"
    _assert_user_error(
        invoke(["export", "atlas-test-boxes", "--out", str(out)], db_url),
        "refusing to export atlas-test-boxes",
        "0 of the 5 polytopes",
        "pending 5",
    )
    assert not out.exists()
    # nothing generated yet: even --allow-partial has nothing to publish
    _assert_user_error(
        invoke(["export", "atlas-test-boxes", "--out", str(out), "--allow-partial"], db_url),
        "nothing to export",
    )


def test_status_lists_recent_failures(engine: Engine, db_url: str) -> None:
    JobStore(engine).enqueue(
        [
            JobSpec("test-raise", "r", params={"message": "the reason is here"}),
            JobSpec("test-sleep", "s", params={"seconds": 30}),
        ]
    )
    worked = run_atlas(["work", "--job-timeout", "30", "--timeout", "test-sleep=0.5"], db_url)
    assert worked.returncode == 0, worked.stderr
    status = invoke(["status"], db_url)
    assert status.returncode == 0
    assert "recent failures:" in status.stdout and "ValueError: the reason is here" in status.stdout
    assert "timed_out" in status.stdout and "wall-clock limit of 0.5 s" in status.stdout


def test_build_runs_everything_and_exports(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "built"
    built = run_atlas(["build", "test-boxes", "--out", str(out), "--workers", "2"], db_url)
    assert built.returncode == 0, built.stderr
    assert json.loads((out / "manifest.json").read_text())["rows"] == 5
    assert (out / "benchmark" / "jobs.csv").read_text().count("\n") == 1 + 40


def test_unknown_preset(db_url: str) -> None:
    _assert_user_error(
        invoke(["enqueue", "no-such-preset"], db_url), "unknown preset 'no-such-preset'"
    )


@pytest.mark.parametrize(
    "content, needle",
    [
        ('[{"family": "test-box", "params": {}, "count": -3}]', "must be an integer >= 0, got -3"),
        ('[{"family": "test-box", "params": "dim=4", "count": 1}]', "must be a JSON object"),
        ('[{"family": "test-box", "params": {,}}]', "not valid JSON"),
        ('[{"family": "no-such-family", "count": 1}]', "unknown family 'no-such-family'"),
        ('{"family": "test-box"}', "must hold a JSON list"),
    ],
)
def test_bad_preset_files(db_url: str, tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "preset.json"
    path.write_text(content)
    _assert_user_error(invoke(["enqueue", str(path)], db_url), needle)
    assert not (tmp_path / "atlas.sqlite").exists()  # rejected before the database is opened


@pytest.mark.parametrize(
    "url, needle",
    [
        ("not a url at all", "malformed database URL"),
        ("mysql://u@h/db", "unsupported database backend 'mysql'"),
        ("sqlite://", "names no file"),
        (
            "sqlite:////no/such/folder/atlas.sqlite",
            "no such database: /no/such/folder/atlas.sqlite",
        ),
    ],
)
def test_bad_database_urls(url: str, needle: str) -> None:
    _assert_user_error(invoke(["status", "--db", url]), needle)


def test_commands_that_read_never_create_a_database(tmp_path: Path) -> None:
    typo = tmp_path / "atlsa.sqlite"
    for args in (
        ["status"],
        ["export", "atlas-test-boxes"],
        ["work"],
        ["prune", "--older-than", "1"],
    ):
        _assert_user_error(
            invoke([*args, "--db", f"sqlite:///{typo}"]), f"no such database: {typo}"
        )
    assert list(tmp_path.iterdir()) == []
    # enqueue creates it; a missing folder is still refused there
    _assert_user_error(
        invoke(["enqueue", "test-boxes", "--db", f"sqlite:///{tmp_path}/no/atlas.sqlite"]),
        "does not exist",
    )
    assert invoke(["enqueue", "test-boxes", "--db", f"sqlite:///{typo}"]).returncode == 0
    assert invoke(["status", "--db", f"sqlite:///{typo}"]).returncode == 0


def test_corrupt_database_file_is_reported_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.sqlite"
    garbage = b"this is not a database\n" * 200
    path.write_bytes(garbage)
    # One real process (what the user sees), the other commands in this process.
    _assert_user_error(run_atlas(["work", "--db", f"sqlite:///{path}"]), "file is not a database")
    for args in (["status"], ["enqueue", "test-boxes"], ["export", "x"]):
        _assert_user_error(invoke([*args, "--db", f"sqlite:///{path}"]), "file is not a database")
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.sqlite"]


def test_database_with_damaged_pages_is_refused_even_when_nothing_is_pending(
    tmp_path: Path,
) -> None:
    path = tmp_path / "damaged.sqlite"
    engine = open_database(f"sqlite:///{path}")
    JobStore(engine).enqueue(
        [JobSpec("test-record", f"k{i}", params={"pad": "x" * 3000}) for i in range(40)]
    )
    with engine.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'done'"))  # a finished build: nothing pending
    engine.dispose()
    Path(f"{path}-wal").unlink(missing_ok=True)
    with path.open("r+b") as handle:  # overwrite pages in the middle of the file
        handle.seek(path.stat().st_size // 2 // 4096 * 4096)
        handle.write(b"\xff" * 8192)
    damaged = path.read_bytes()
    for args in (
        ["status"],
        ["work"],
        ["export", "atlas-test-boxes"],
        ["prune", "--older-than", "1"],
    ):
        _assert_user_error(
            invoke([*args, "--db", f"sqlite:///{path}"]),
            f"database '{path}' is corrupt: ",
            "quick_check",
        )
    assert path.read_bytes() == damaged


def test_unknown_policy_algorithm_names_the_known_ones(tmp_path: Path) -> None:
    preset = tmp_path / "p.json"
    preset.write_text(
        json.dumps(
            [
                {
                    "family": "ball",
                    "params": {},
                    "count": 1,
                    "policy": {"capacity/nosuch": {"time_limit_s": 1}},
                }
            ]
        )
    )
    db = tmp_path / "atlas.sqlite"
    _assert_user_error(
        invoke(["enqueue", str(preset), "--db", f"sqlite:///{db}"]),
        "unknown algorithm 'capacity/nosuch' (known: capacity/area-2d, capacity/billiard,",
    )
    assert not db.exists()


def test_deeply_nested_preset_is_one_line(tmp_path: Path) -> None:
    preset = tmp_path / "deep.json"
    preset.write_text("[" * 100_000 + "]" * 100_000)
    _assert_user_error(
        invoke(["enqueue", str(preset), "--db", f"sqlite:///{tmp_path}/a.sqlite"]),
        "nests more than",
        "levels deep",
    )


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_path_on_a_pseudo_file_system_names_the_os_reason(db_url: str) -> None:
    result = invoke(["enqueue", "test-boxes", "--db", "sqlite:////proc/atlas.sqlite"])
    _assert_user_error(result, "cannot create a file in /proc")
    assert "disk is full" not in result.stderr
    assert invoke(["enqueue", "test-boxes"], db_url).returncode == 0
    result = invoke(
        ["export", "atlas-test-boxes", "--allow-partial", "--out", "/proc/atlas-x"], db_url
    )
    _assert_user_error(result, "cannot write the snapshot /proc/atlas-x: ", "(in /proc)")


def test_database_from_newer_code_is_refused(db_url: str) -> None:
    open_database(db_url).dispose()  # create it, at today's schema
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    _assert_user_error(invoke(["enqueue", "test-boxes"], db_url), "newer than this code")


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "x..y", ""])
def test_bad_export_names(db_url: str, name: str) -> None:
    _assert_user_error(invoke(["export", name], db_url), "invalid export name")


@pytest.mark.parametrize(
    "args",
    [
        ["work", "--workers", "0"],
        ["work", "--max-jobs", "-1"],
        ["work", "--job-timeout", "-5"],
        ["build", "test-boxes", "--workers", "-2"],
        ["work", "--timeout", "capacity"],
        ["work", "--timeout", "capacity=-1"],
        ["work", "--timeout", "=3"],
        ["work", "--timeout", "capacity=abc"],
    ],
)
def test_bad_numeric_options(db_url: str, args: list[str]) -> None:
    result = invoke(args, db_url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Invalid value" in result.stderr


def test_job_with_unparsable_params_fails_cleanly(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    store = JobStore(engine)
    store.enqueue(
        [
            JobSpec("test-record", "bad"),
            JobSpec("test-record", "good", params={"path": str(tmp_path / "side"), "tag": "ok"}),
        ]
    )
    with engine.begin() as conn:
        conn.execute(
            jobs_table.update().where(jobs_table.c.idempotency_key == "bad").values(params="[1, 2")
        )
    worked = run_atlas(["work"], db_url)
    assert worked.returncode == 0 and "Traceback" not in worked.stderr
    assert "params are not valid JSON" in worked.stderr
    j = jobs_table.c
    with engine.connect() as conn:
        rows = dict(conn.execute(select(j.idempotency_key, j.status)).all())
    assert rows == {"bad": "failed", "good": "done"}


def _states(engine: Engine) -> dict[str, tuple[str, int, str | None]]:
    j = jobs_table.c
    with engine.connect() as conn:
        rows = conn.execute(select(j.idempotency_key, j.status, j.attempts, j.error_type)).all()
    return {key: (status, attempts, error_type) for key, status, attempts, error_type in rows}


def _quantity_jobs(db_url: str) -> Engine:
    """cap (failed) <- cert (done, from the failure) <- ratio (done); spec timed out; vol pending."""
    engine = open_database(db_url)
    JobStore(engine).enqueue(
        [
            JobSpec("quantity", "cap", quantity="capacity", algorithm="reeb"),
            JobSpec("quantity", "cap2", quantity="capacity", algorithm="billiard"),
            JobSpec(
                "quantity",
                "cert",
                quantity="certified_capacity",
                algorithm="certify",
                depends_on_keys=("cap", "cap2"),
            ),
            JobSpec(
                "quantity",
                "ratio",
                quantity="systolic_ratio",
                algorithm="formula",
                depends_on_keys=("cert",),
            ),
            JobSpec("quantity", "spec", quantity="spectrum", algorithm="reeb"),
            JobSpec("quantity", "vol", quantity="volume", algorithm="qhull"),
            JobSpec(
                "quantity",
                "vol2",
                quantity="volume",
                algorithm="cone-decomposition",
                depends_on_keys=("vol",),
            ),
        ]
    )
    j = jobs_table.c
    with engine.begin() as conn:
        for key, status in (
            ("cap", "failed"),
            ("cap2", "done"),
            ("cert", "done"),
            ("ratio", "done"),
            ("spec", "timed_out"),
        ):
            conn.execute(
                jobs_table.update()
                .where(j.idempotency_key == key)
                .values(
                    status=status,
                    attempts=3,
                    finished_at=1.0,
                    result='{"value": 1}',
                    error_type="ValueError" if status == "failed" else None,
                )
            )
    return engine


def test_retry_puts_failures_back_and_resets_what_was_computed_from_them(db_url: str) -> None:
    engine = _quantity_jobs(db_url)
    result = invoke(["retry", "--quantity", "capacity"], db_url)
    assert (
        result.returncode == 0
        and "1 jobs back to pending, 2 finished dependents reset to blocked" in result.stdout
    )
    states = _states(engine)
    assert states["cap"] == ("pending", 0, None)
    assert states["cert"] == ("blocked", 0, None) and states["ratio"] == ("blocked", 0, None)
    assert states["cap2"][0] == "done" and states["spec"][0] == "timed_out"  # not selected
    assert (
        "1 jobs back to pending, 0 finished" in invoke(["retry"], db_url).stdout
    )  # the timed-out one
    assert _states(engine)["spec"] == ("pending", 0, None)
    assert "0 jobs back to pending" in invoke(["retry"], db_url).stdout
    engine.dispose()


def test_cancel_skips_waiting_jobs_and_retry_cancelled_undoes_it(db_url: str) -> None:
    engine = _quantity_jobs(db_url)
    result = invoke(["cancel", "--quantity", "volume"], db_url)
    assert result.returncode == 0 and "2 pending or blocked jobs cancelled" in result.stdout
    states = _states(engine)
    assert states["vol"] == ("skipped", 0, "Cancelled") and states["vol2"] == (
        "skipped",
        0,
        "Cancelled",
    )
    assert states["cap"][0] == "failed"  # finished jobs are not touched
    assert "0 jobs back to pending" in invoke(["retry", "--quantity", "volume"], db_url).stdout
    assert (
        "2 jobs back to pending"
        in invoke(["retry", "--quantity", "volume", "--cancelled"], db_url).stdout
    )
    states = _states(engine)
    assert states["vol"] == ("pending", 0, None) and states["vol2"][0] == "pending"
    engine.dispose()


def test_operator_filters_name_the_known_values(db_url: str) -> None:
    open_database(db_url).dispose()
    _assert_user_error(
        invoke(["retry", "--quantity", "capacty"], db_url),
        "unknown quantity 'capacty' (known: capacity, certified_capacity,",
    )
    _assert_user_error(
        invoke(["cancel", "--algorithm", "nosuch"], db_url), "unknown algorithm 'nosuch' (known: "
    )


def test_status_json_is_the_status_report_as_data(db_url: str) -> None:
    engine = _quantity_jobs(db_url)
    data = json.loads(invoke(["status", "--json"], db_url).stdout)
    counts = {k: v for k, v in data["counts"].items() if v}
    assert counts == {"done": 3, "failed": 1, "timed_out": 1, "pending": 1, "blocked": 1}
    assert data["progress"]["finished"] == 5 and data["progress"]["total"] == 7
    assert data["by_algorithm"]["capacity/reeb"] == {"failed": 1}
    assert data["by_algorithm"]["volume/cone-decomposition"] == {"blocked": 1}
    assert sorted((f["quantity"], f["status"]) for f in data["recent_failures"]) == [
        ("capacity", "failed"),
        ("spectrum", "timed_out"),
    ]
    engine.dispose()


def test_list_names_every_preset_family_and_invariant() -> None:
    from viterbo.families import FAMILIES
    from viterbo.invariants import registry

    lines = invoke(["list"]).stdout.splitlines()
    assert lines[0] == "presets:" and any(
        ln.split()[:3] == ["small", "990", "polytopes;"] for ln in lines
    )
    names = {ln.split()[0] for ln in lines if ln.startswith("  ")}
    assert set(FAMILIES) <= names and {a.key for a in registry.algorithms()} <= names
    assert all(len(ln) <= 2 + 28 + 1 + 100 for ln in lines)


def test_work_quiet_prints_nothing_and_the_log_file_has_every_job(
    db_url: str, tmp_path: Path
) -> None:
    assert invoke(["enqueue", "test-boxes"], db_url).returncode == 0
    log = tmp_path / "work.log"
    worked = run_atlas(["work", "--workers", "2", "--quiet", "--log-file", str(log)], db_url)
    assert worked.returncode == 0, worked.stderr
    assert worked.stderr == "" and worked.stdout == ""
    finished = [ln for ln in log.read_text().splitlines() if ") [test-box] done" in ln]
    assert len(finished) == 35  # every done job, each once, with its process id
    assert len({ln.split()[2] for ln in finished}) >= 1
    verbose = run_atlas(["work", "--verbose"], db_url)  # nothing left: no job lines, progress only
    assert verbose.returncode == 0 and ") [test-box] done" not in verbose.stderr
    _assert_user_error(
        invoke(["work", "-q", "-v"], db_url), "--quiet and --verbose exclude each other"
    )


def test_help_lists_compute_without_importing_the_math_layers() -> None:
    # `atlas --help` and the store commands stay fast: the geometry layer (numpy, scipy) is
    # imported only by the commands that compute.
    code = (
        "import sys; from viterbo.atlas.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('scipy', 'viterbo.geometry', 'viterbo.atlas.compute_cli')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "compute  Compute the invariants of one polytope" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"
