"""`ruff check` and `ruff format --check` are clean: the README's test command enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKED = ["src", "tests", "benchmarks", "migrations", "notebooks"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: `pip install -e '.[test]'` installs it")
    return subprocess.run(
        [ruff, *args, *CHECKED], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_ruff_check_is_clean() -> None:
    out = _ruff("check", "--no-cache")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_ruff_format_is_clean() -> None:
    out = _ruff("format", "--check", "--no-cache")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
