"""The docstring examples of the public API run (doctest), so they cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import viterbo

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(viterbo.__path__, "viterbo.")
    if not info.name.startswith("viterbo.atlas.migrations")
)


def _examples(name: str) -> int:
    module = importlib.import_module(name)
    return sum(len(t.examples) for t in doctest.DocTestFinder().find(module))


@pytest.mark.parametrize("name", [m for m in MODULES if _examples(m)])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_entry_points_have_examples() -> None:
    for name in ("viterbo.families", "viterbo.invariants.evaluate", "viterbo.search.run"):
        assert _examples(name) > 0, name
