"""Presets: named lists of ``(family, params, count)`` specs that ``atlas enqueue`` expands.

Edit ``PRESETS`` to change what ``atlas build tiny`` / ``small`` compute (the real content is
issue 6's job; these are placeholders with the agreed family names).  A preset may also be a
JSON file: ``[{"family": "sphere", "params": {"n": 12}, "count": 10}, ...]``.

Polytope ``i`` of a spec is the same in every preset (its seed depends only on family, params
and ``i``), so presets overlap instead of recomputing, and raising a count only adds jobs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from viterbo.atlas.errors import PresetError
from viterbo.atlas.handlers import GENERATE, GENERATE_PRIORITY, generate_job_key
from viterbo.atlas.kinds import known_families
from viterbo.atlas.store import JobSpec


@dataclass(frozen=True)
class PresetItem:
    """``count`` polytopes (indices ``0 .. count-1``) of ``family`` with ``params``."""

    family: str
    params: dict[str, Any] = field(default_factory=dict)
    count: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family:
            raise PresetError(f"preset item needs a family name, got {self.family!r}")
        if not isinstance(self.params, dict):
            raise PresetError(f"params of family {self.family!r} must be a JSON object, got {self.params!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise PresetError(f"count of family {self.family!r} must be an integer >= 0, got {self.count!r}")


PRESETS: dict[str, list[PresetItem]] = {
    # A minute on a laptop: landmarks plus a few of each random family.
    "tiny": [
        *[PresetItem("catalog", {"name": name}, 1)
          for name in ("tesseract", "cross-polytope", "24-cell", "hko-pentagon-product")],
        PresetItem("product-ngons", {"k_P": 5, "k_Q": 5, "r": 1, "s": 20}, 1),
        PresetItem("halfspace", {"facets": 8}, 2),
        PresetItem("sphere", {"points": 10}, 2),
        PresetItem("lagrangian-product", {"points": 5}, 2),
        PresetItem("symplectic-product", {"points": 5}, 2),
    ],
    # Hundreds of polytopes: what `atlas build small` publishes (real content: issue 6).
    "small": [
        *[PresetItem("catalog", {"name": name}, 1)
          for name in ("tesseract", "cross-polytope", "standard-simplex", "regular-simplex", "24-cell",
                       "hko-pentagon-product", "square-x-diamond", "triangle-x-triangle",
                       "ch-6-vertex", "permutahedron")],
        *[PresetItem("product-ngons", {"k_P": 5, "k_Q": 5, "r": r, "s": 40}, 1) for r in range(5)],
        PresetItem("halfspace", {"facets": 8}, 40),
        PresetItem("halfspace-tangent", {"facets": 10}, 40),
        PresetItem("sphere", {"points": 12}, 40),
        PresetItem("ball", {"points": 12}, 40),
        PresetItem("lagrangian-product", {"points": 6}, 40),
        PresetItem("symplectic-product", {"points": 6}, 40),
        PresetItem("polygon", {"points": 8}, 20),
    ],
}


def register_preset(name: str, items: Iterable[PresetItem]) -> None:
    """Add or replace a preset (tests register ``test-*`` presets through a plugin module)."""
    PRESETS[name] = list(items)


def preset_names() -> list[str]:
    """Names of the built-in and registered presets."""
    return sorted(PRESETS)


def load_preset(name_or_path: str) -> list[PresetItem]:
    """The items of a named preset, or of a JSON preset file (path ending in ``.json``).

    Raises
    ------
    PresetError
        Unknown name, unreadable file, malformed JSON, or an invalid item (negative count,
        params that are not an object, ...).
    """
    from viterbo.atlas.kinds import load_plugins

    load_plugins()
    if name_or_path in PRESETS:
        return list(PRESETS[name_or_path])
    if name_or_path.endswith(".json"):
        return _load_preset_file(Path(name_or_path))
    raise PresetError(f"unknown preset {name_or_path!r} (known: {', '.join(preset_names())}; or a .json file)")


def _load_preset_file(path: Path) -> list[PresetItem]:
    try:
        raw = json.loads(path.read_text())
    except OSError as exc:
        raise PresetError(f"cannot read preset file {str(path)!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise PresetError(f"preset file {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, list):
        raise PresetError(f"preset file {str(path)!r} must hold a JSON list of {{family, params, count}} objects")
    items = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or set(entry) - {"family", "params", "count"}:
            raise PresetError(f"preset file {str(path)!r}, item {i}: expected keys family, params, count")
        items.append(PresetItem(entry.get("family"), entry.get("params", {}), entry.get("count", 1)))
    return items


def validate_families(items: Iterable[PresetItem]) -> None:
    """Refuse unknown families and params their family rejects (before anything is written)."""
    items = list(items)
    known = known_families()
    unknown = sorted({it.family for it in items if it.family not in known})
    if unknown:
        raise PresetError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))} (known: {', '.join(sorted(known)) or 'none'})")
    try:
        from viterbo.families import FAMILIES, validate_params
    except ImportError:  # pragma: no cover - families layer absent: generate jobs will tell
        return
    for it in items:
        if it.family in FAMILIES:
            try:
                validate_params(FAMILIES[it.family], it.params)
            except ValueError as exc:
                raise PresetError(f"bad params for family {it.family!r}: {exc}") from None


def generate_specs(items: Iterable[PresetItem]) -> list[JobSpec]:
    """One generate job per polytope of ``items`` (duplicates across items collapse)."""
    specs: dict[str, JobSpec] = {}
    for it in items:
        for index in range(it.count):
            key = generate_job_key(it.family, it.params, index)
            specs.setdefault(key, JobSpec(
                kind=GENERATE, key=key, family=it.family, priority=GENERATE_PRIORITY,
                params={"family": it.family, "params": it.params, "index": index},
            ))
    return list(specs.values())


def polytope_keys(items: Iterable[PresetItem]) -> set[str]:
    """Stable ids of every polytope the preset describes (export filters on them)."""
    from viterbo.atlas.handlers import polytope_key

    return {polytope_key(it.family, it.params, i) for it in items for i in range(it.count)}
