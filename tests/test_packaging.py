"""The wheel's package list (pyproject.toml) covers every package under src/ and migrations/."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_source_folder_is_a_listed_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(REPO / "src").parts)
        for p in (REPO / "src").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    found |= {
        ".".join(("viterbo", "atlas", *p.parent.relative_to(REPO).parts))
        for p in (REPO / "migrations").rglob("*.py")
    }
    assert listed == found
    assert config["setuptools"]["package-dir"]["viterbo.atlas.migrations"] == "migrations"
