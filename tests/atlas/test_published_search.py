"""The committed `artefacts/datasets/atlas-search` snapshot: loadable, hashed, and its verified
optima recompute from their geometry."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from viterbo.atlas.export.rows import content_hash
from viterbo.atlas.search.publish import features
from viterbo.geometry import Polytope
from viterbo.invariants.evaluate import Policy, evaluate

SNAPSHOT = Path(__file__).resolve().parents[2] / "artefacts" / "datasets" / "atlas-search"
pytestmark = pytest.mark.skipif(not SNAPSHOT.exists(), reason="no atlas-search snapshot")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    # An own cache: `datasets` caches local folders by their name, and the tests export other
    # folders called atlas-search; the shared cache could serve one of those instead.
    cache = tmp_path_factory.mktemp("hf-cache")
    return list(datasets.load_dataset(str(SNAPSHOT), split="train", cache_dir=str(cache)))


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((SNAPSHOT / "manifest.json").read_text())


def test_the_manifest_describes_the_rows(rows: list[dict], manifest: dict) -> None:
    assert manifest["rows"] == len(rows)
    assert manifest["content_hash"] == content_hash(rows, features())
    assert manifest["verified"] == sum(r["verified"] for r in rows)


def test_verified_optima_are_confirmed_and_image_invariant(rows: list[dict]) -> None:
    verified = [r for r in rows if r["verified"]]
    assert verified
    for row in verified:
        assert row["capacity_certificate"] == "confirmed"
        assert len(row["capacity_agreeing"]) >= 2
        assert row["image_relative_difference"] <= 1e-8
        assert row["systolic_ratio"] >= row["start_ratio"] - 1e-12  # climbs never descend
        assert row["trajectory"] == sorted(row["trajectory"])


def test_the_best_optimum_recomputes_from_its_geometry(rows: list[dict]) -> None:
    best = max((r for r in rows if r["verified"]), key=lambda r: r["systolic_ratio"])
    polytope = Polytope.from_halfspaces(np.array(best["normals"]), np.array(best["offsets"]))
    top = evaluate(polytope, Policy(spectrum=False)).headline()
    assert top["capacity_certificate"] == "confirmed"
    assert top["systolic_ratio"] == pytest.approx(best["systolic_ratio"], rel=1e-9)
