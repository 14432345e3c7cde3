"""End-to-end `atlas build` on PostgreSQL with the real families and algorithms (issue 7).

A small preset of cheap real families, built by `atlas build --workers 3` against the
throwaway server, then rebuilt on SQLite: both backends must publish the same dataset
(same content hash), and the PostgreSQL run must have used several worker processes.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.atlas.conftest import ATLAS, REPO_ROOT, postgres_database
from viterbo.atlas.db import open_database
from viterbo.atlas.models import jobs_table

MINI_PRESET = [
    {"family": "catalog", "params": {"name": "tesseract"}, "count": 1},
    {"family": "lagrangian-product", "params": {"points": 4}, "count": 2},
    {"family": "symplectic-product", "params": {"points": 4}, "count": 1},
]


def _build(url: str, preset: Path, out: Path, workers: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ATLAS_DB", "ATLAS_PLUGINS")}
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [
            *ATLAS,
            "build",
            str(preset),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--job-timeout",
            "60",
            "--db",
            url,
        ],
        env=env,
        cwd=REPO_ROOT,
        text=True,
        capture_output=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.postgres
def test_build_small_real_preset_on_postgres_matches_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    preset = tmp_path / "mini.json"
    preset.write_text(json.dumps(MINI_PRESET))
    databases = postgres_database(request)
    pg_url = next(databases)
    try:
        pg = _build(pg_url, preset, tmp_path / "pg", workers=3)
        assert pg.returncode == 0, pg.stderr
        engine = open_database(pg_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(jobs_table.c.status, jobs_table.c.lease_owner)).all()
        finally:
            engine.dispose()
        assert {s for s, _ in rows} <= {"done", "not_applicable", "skipped", "failed", "timed_out"}
        assert sum(s == "done" for s, _ in rows) >= len(MINI_PRESET) * 3
        assert len({o.rsplit(":", 1)[0] for _, o in rows if o}) >= 2  # several worker processes
    finally:
        next(databases, None)  # drop the database
    lite = _build(f"sqlite:///{tmp_path / 'atlas.sqlite'}", preset, tmp_path / "lite", workers=2)
    assert lite.returncode == 0, lite.stderr
    pg_manifest = json.loads((tmp_path / "pg" / "manifest.json").read_text())
    lite_manifest = json.loads((tmp_path / "lite" / "manifest.json").read_text())
    assert pg_manifest["rows"] == lite_manifest["rows"] == 4
    assert pg_manifest["content_hash"] == lite_manifest["content_hash"]
