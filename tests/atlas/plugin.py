"""Test-only job kinds, a test family and test algorithms for the atlas tests.

Imported by worker processes through ``ATLAS_PLUGINS=tests.atlas.plugin``.  Nothing here is
registered in normal runs.  With ``ATLAS_TEST_ISOLATED_REGISTRY=1`` (set for subprocesses
only) the invariants registry is replaced by the small test algorithms below, so that these
tests do not depend on the real (slow, still changing) capacity algorithms.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from viterbo.atlas.kinds import JobKind, register_family, register_kind
from viterbo.atlas.presets import PresetItem, register_preset


def _append(path: str, line: str) -> None:
    # O_APPEND writes of one short line are atomic: concurrent writers never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def run_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Append ``tag`` to the side-effect file (optionally around a sleep)."""
    if payload.get("sleep"):
        _append(payload["path"], f"start {payload['tag']}")
        time.sleep(payload["sleep"])
    _append(payload["path"], str(payload["tag"]))
    return {"value": payload["tag"], "pid": os.getpid()}


def run_sleep(payload: dict[str, Any]) -> dict[str, Any]:
    time.sleep(payload["seconds"])
    return {"value": payload["seconds"]}


def run_allocate(payload: dict[str, Any]) -> dict[str, Any]:
    block = bytearray(int(payload["mb"]) * 1024 * 1024)
    return {"value": len(block)}


def run_raise(payload: dict[str, Any]) -> dict[str, Any]:
    raise ValueError(payload.get("message", "deliberate failure"))


def run_crash(payload: dict[str, Any]) -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGKILL)
    return {}


# ------------------------------------------------------------------ fault injection
# With ATLAS_TEST_PAUSE_AT=<point> and ATLAS_TEST_PAUSE_FILE=<path>, the first process that
# reaches <point> writes {"pid", "point", "jobs"} to <path> and sleeps until the test SIGKILLs
# it.  Points: the store's checkpoints ("claim-uncommitted", "claimed", "computed") and
# "compute" (inside a test-pause-record job's computation).


def pause_point(point: str, keys: list[str]) -> None:
    """Pause here for ever if this is the configured point and nobody paused before."""
    if os.environ.get("ATLAS_TEST_PAUSE_AT") != point:
        return
    marker = os.environ["ATLAS_TEST_PAUSE_FILE"]
    try:  # exactly one pause per test, however many workers race to this point
        os.close(os.open(marker + ".lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return
    with open(marker + ".tmp", "w") as fh:
        json.dump({"pid": os.getpid(), "point": point, "jobs": keys}, fh)
    os.rename(marker + ".tmp", marker)  # the test never reads half a marker
    while True:
        time.sleep(3600)


def atlas_checkpoint(point: str, jobs: Any) -> None:
    """The workers' checkpoint hook in `atlas work` processes that import this plugin."""
    pause_point(point, [job.idempotency_key for job in jobs])


def run_pause_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Like run_record, with a pause point in the middle of the computation."""
    pause_point("compute", [payload["tag"]])
    return run_record(payload)


register_kind(JobKind("test-pause-record", run=run_pause_record))
register_kind(JobKind("test-pause-record-inline", run=run_pause_record, trivial=True))
register_kind(JobKind("test-record", run=run_record))
register_kind(JobKind("test-record-inline", run=run_record, trivial=True))
register_kind(JobKind("test-sleep", run=run_sleep))
register_kind(JobKind("test-allocate", run=run_allocate))
register_kind(JobKind("test-raise", run=run_raise))
register_kind(JobKind("test-crash", run=run_crash))


# ------------------------------------------------------------------ a test family


@dataclass(frozen=True)
class FakePolytope:
    """An axis-parallel box [-s_i, s_i]^d: just enough of the Polytope interface."""

    sides: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.sides)

    @property
    def num_vertices(self) -> int:
        return 2**self.dim

    @property
    def num_facets(self) -> int:
        return 2 * self.dim

    def to_dict(self) -> dict[str, Any]:
        d = self.dim
        normals = [
            [(1.0 if k == i else 0.0) * sgn for k in range(d)] for i in range(d) for sgn in (1, -1)
        ]
        offsets = [s for s in self.sides for _ in (0, 1)]
        vertices = [
            [self.sides[k] * (1 if (m >> k) & 1 else -1) for k in range(d)] for m in range(2**d)
        ]
        return {"vertices": vertices, "normals": normals, "offsets": offsets}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FakePolytope:
        return cls(tuple(data["offsets"][::2]))


@dataclass(frozen=True)
class Generated:
    polytope: FakePolytope
    family: str
    params: dict[str, Any]
    index: int
    seed: int
    metadata: dict[str, Any] = field(default_factory=dict)


def generate_box(family: str, params: dict[str, Any], index: int) -> Generated:
    """Box with sides 1 + index * step (params: dim, step); bad params raise ValueError."""
    dim, step = params.get("dim", 4), params.get("step", 0.5)
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"test-box: dim must be a positive integer, got {dim!r}")
    sides = tuple(1.0 + index * step + 0.25 * k for k in range(dim))
    return Generated(
        FakePolytope(sides), family, params, index, seed=1000 + index, metadata={"rejections": 0}
    )


register_family("test-box", generate_box, load=FakePolytope.from_dict)
register_preset(
    "test-boxes", [PresetItem("test-box", {"dim": 4}, 3), PresetItem("test-box", {"dim": 2}, 2)]
)


# ------------------------------------------------------------------ test algorithms


def _volume(p: FakePolytope, **_: Any) -> dict[str, Any]:
    v = 1.0
    for s in p.sides:
        v *= 2 * s
    return {"value": v, "loop": None, "seconds": 0.0, "diagnostics": {}}


def _capacity_min_face(p: FakePolytope, **_: Any) -> dict[str, Any]:
    # Not the real capacity of a box: a deterministic stand-in with a loop.
    c = 4.0 * min(p.sides) ** 2
    return {"value": c, "loop": [[0.0] * p.dim, [1.0] * p.dim], "seconds": 0.0, "diagnostics": {}}


def _capacity_slow(p: FakePolytope, **_: Any) -> dict[str, Any]:
    time.sleep(0.05)
    return _capacity_min_face(p)


def _certify(p: FakePolytope, *, inputs: Any = None, **_: Any) -> dict[str, Any]:
    done = {k: v["result"] for k, v in (inputs or {}).items() if v["status"] == "done"}
    if not done:
        raise ValueError("no capacity input is done")
    alg, res = min(done.items(), key=lambda kv: (kv[1]["value"], kv[0]))
    agreeing = sorted(k.split("/")[1] for k, v in done.items() if v["value"] == res["value"])
    return {
        "value": res["value"],
        "algorithm": alg.split("/")[1],
        "loop": res["loop"],
        "seconds": 0.0,
        "level": "confirmed" if len(agreeing) >= 2 else "single",
        "agreeing": agreeing,
        "diagnostics": {"inputs": sorted(inputs)},
    }


def _systolic(p: FakePolytope, *, inputs: Any = None, **_: Any) -> dict[str, Any]:
    c = inputs["certified_capacity/certify"]["result"]["value"]
    vol = inputs["volume/exact"]["result"]["value"]
    return {"value": c * c / (2 * vol), "loop": None, "seconds": 0.0, "diagnostics": {}}


def _spectrum(p: FakePolytope, **_: Any) -> dict[str, Any]:
    c = 4.0 * min(p.sides) ** 2
    return {"value": [c, 2 * c], "loop": None, "seconds": 0.0, "diagnostics": {}}


def test_algorithms() -> list[Any]:
    """The algorithms of the isolated test registry."""
    from viterbo.invariants.registry import Algorithm

    def always(_p: Any) -> None:
        return None

    def even_only(p: Any) -> str | None:
        return None if p.dim % 2 == 0 else "odd dimension"

    def never(_p: Any) -> str:
        return "test algorithm that never applies"

    return [
        Algorithm("volume", "exact", lambda p, **k: _volume(p, **k), always),
        Algorithm("capacity", "fast", lambda p, **k: _capacity_min_face(p, **k), even_only),
        Algorithm("capacity", "slow-one", lambda p, **k: _capacity_slow(p, **k), even_only),
        Algorithm("capacity", "never", lambda p, **k: _capacity_min_face(p, **k), never),
        Algorithm(
            "certified_capacity",
            "certify",
            lambda p, **k: _certify(p, **k),
            even_only,
            depends_on=("capacity",),
        ),
        Algorithm(
            "systolic_ratio",
            "formula",
            lambda p, **k: _systolic(p, **k),
            even_only,
            depends_on=("certified_capacity", "volume"),
        ),
        Algorithm("spectrum", "reeb", lambda p, **k: _spectrum(p, **k), even_only),
    ]


def isolate_registry() -> dict[Any, Any]:
    """Replace the invariants registry by the test algorithms; returns the old contents."""
    from viterbo.invariants import registry

    old = dict(registry._REGISTRY)
    registry._REGISTRY.clear()
    registry._loaded = True
    for alg in test_algorithms():
        registry.register(alg)
    return old


if os.environ.get("ATLAS_TEST_ISOLATED_REGISTRY") == "1":
    isolate_registry()
