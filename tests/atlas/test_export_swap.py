"""Export swap: atomic exchange, two-rename fallback, sweep of stale scratch folders, SIGKILL.

A snapshot folder is replaced by ``renameat2(RENAME_EXCHANGE)`` where the system has it (the
target path never vanishes) and by two renames elsewhere; scratch folders carry the creating
pid so that the next export removes those of dead exports and nothing else.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.atlas.conftest import REPO_ROOT, atlas_env
from viterbo.atlas.db import open_database
from viterbo.atlas.errors import ExportError
from viterbo.atlas.export import exchange_paths, export_dataset, sweep_stale_scratch
from viterbo.atlas.export import snapshot as export_mod
from viterbo.atlas.presets import generate_specs, load_preset
from viterbo.atlas.store import JobStore
from viterbo.atlas.worker import Worker, WorkerOptions

NAME = "atlas-test-boxes"


def tree_digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'atlas.sqlite'}"


@pytest.fixture
def built(sqlite_url: str, isolated_registry: None) -> Iterator[Engine]:
    """The test-boxes preset computed in this process (SQLite: the swap is not about the DB)."""
    engine = open_database(sqlite_url)
    JobStore(engine).enqueue(generate_specs(load_preset("test-boxes")))
    Worker(engine, WorkerOptions()).run()
    yield engine
    engine.dispose()


# ------------------------------------------------------------------------- exchange


@pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux-only")
def test_exchange_swaps_two_trees_and_keeps_both_intact(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", {"x.txt": "from a", "sub/deep.bin": "a" * 1000})
    b = make_tree(tmp_path / "b", {"y.txt": "from b", "data/train.parquet": "b" * 77})
    digest_a, digest_b = tree_digest(a), tree_digest(b)
    inode_a = a.stat().st_ino
    assert exchange_paths(a, b) is True
    assert tree_digest(a) == digest_b and tree_digest(b) == digest_a
    assert b.stat().st_ino == inode_a  # the same directory, moved: nothing was copied
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_exchange_with_a_missing_path_raises_and_changes_nothing(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", {"x.txt": "kept"})
    if export_mod._renameat2() is None:
        pytest.skip("no renameat2 on this system")
    with pytest.raises(FileNotFoundError):
        exchange_paths(a, tmp_path / "missing")
    assert tree_digest(a) == {"x.txt": hashlib.sha256(b"kept").hexdigest()}


def test_exchange_reports_unsupported_systems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = make_tree(tmp_path / "a", {"x": "1"})
    b = make_tree(tmp_path / "b", {"y": "2"})

    def einval(*_: object) -> int:
        ctypes.set_errno(errno.EINVAL)  # what a filesystem without RENAME_EXCHANGE answers
        return -1

    monkeypatch.setattr(export_mod, "_renameat2", lambda: einval)
    assert exchange_paths(a, b) is False
    monkeypatch.setattr(export_mod, "_renameat2", lambda: None)
    assert exchange_paths(a, b) is False
    assert list(a.iterdir()) == [a / "x"] and list(b.iterdir()) == [b / "y"]


@pytest.mark.parametrize("exchange", ["renameat2", "two-renames"])
def test_reexport_replaces_the_snapshot_either_way(
    built: Engine, tmp_path: Path, exchange: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if exchange == "two-renames":
        monkeypatch.setattr(export_mod, "_renameat2", lambda: None)
    out = tmp_path / "exports" / NAME
    export_dataset(built, NAME, out)
    first = tree_digest(out, skip=("manifest.json",))
    (out / "stray-file").write_text("only in the old snapshot")
    export_dataset(built, NAME, out)
    assert tree_digest(out, skip=("manifest.json",)) == first
    assert (out / "manifest.json").is_file()
    assert [p.name for p in out.parent.iterdir()] == [NAME]  # old tree and scratch removed


@pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux-only")
def test_reexport_never_renames_the_snapshot_away(
    built: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the exchange there is no instant without a snapshot at the target path."""
    out = tmp_path / "exports" / NAME
    export_dataset(built, NAME, out)
    real_rename, moved = os.rename, []

    def watched_rename(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if out in (Path(str(src)), Path(str(dst))):
            moved.append((str(src), str(dst)))
        real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", watched_rename)
    export_dataset(built, NAME, out)
    assert moved == []  # the old tree was never moved off the target path (nor a new one onto it)
    monkeypatch.setattr(export_mod, "_renameat2", lambda: None)
    export_dataset(built, NAME, out)
    assert [dst for _, dst in moved][-1] == str(out)  # the fallback: two renames, the window


def test_export_to_a_file_is_refused(built: Engine, tmp_path: Path) -> None:
    target = tmp_path / NAME
    target.write_text("not a snapshot")
    with pytest.raises(ExportError, match="not a folder"):
        export_dataset(built, NAME, target)
    assert target.read_text() == "not a snapshot"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- sweep


def test_sweep_removes_only_scratch_folders_of_dead_processes(tmp_path: Path) -> None:
    target = tmp_path / "snap"
    target.mkdir()
    dead, live = dead_pid(), os.getpid()
    stale = [f".snap.tmp-{dead}-0123abcd", f".snap.old-{dead}-deadbeef"]
    kept = [
        f".snap.tmp-{live}-0123abcd",  # a live export's folder
        ".snap.tmp-0123abcd",  # no pid: not ours to judge
        f".snap.tmp-{dead}-0123ABCD",  # not the exact pattern
        f".snap.tmp-{dead}-0123abcd.x",
        f".snapx.tmp-{dead}-0123abcd",  # another export's name
        f".other.tmp-{dead}-0123abcd",
        f"snap.tmp-{dead}-0123abcd",  # not hidden
    ]
    for name in stale + kept:
        make_tree(tmp_path / name, {"part.parquet": name})
    (tmp_path / f".snap.old-{dead}-00000000").write_text("a file, not a folder")
    (tmp_path / f".snap.tmp-{dead}-11111111").symlink_to(target, target_is_directory=True)
    (target / "keep.txt").write_text("the snapshot")

    removed = sweep_stale_scratch(target)

    assert sorted(p.name for p in removed) == sorted(stale)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(
        [*kept, "snap", f".snap.old-{dead}-00000000", f".snap.tmp-{dead}-11111111"]
    )
    assert (target / "keep.txt").read_text() == "the snapshot"  # the symlink was not followed
    assert all((tmp_path / name / "part.parquet").read_text() == name for name in kept)


def test_sweep_of_a_missing_folder_is_a_no_op(tmp_path: Path) -> None:
    assert sweep_stale_scratch(tmp_path / "nowhere" / "snap") == []


# ------------------------------------------------------------- SIGKILL of a real export

# Each kill point replaces one step of a real `export_dataset` run in a subprocess by SIGKILL.
KILL_POINTS = {
    # while writing the Parquet shards of the new snapshot
    "writing-data": "p._write_parquet = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)",
    # after the exchange, before the replaced tree is deleted
    "after-swap": "s._remove_tree = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)",
}


def killed_export(sqlite_url: str, out: Path, point: str) -> int:
    """Run an export that SIGKILLs itself at ``point``; return its pid."""
    code = (
        "import os, signal, sys; import viterbo.atlas.export as e; from viterbo.atlas.db import make_engine;"
        "import viterbo.atlas.export.publish as p, viterbo.atlas.export.snapshot as s;"
        f"{KILL_POINTS[point]};"
        f"e.export_dataset(make_engine(sys.argv[1]), {NAME!r}, sys.argv[2])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, sqlite_url, str(out)],
        env=atlas_env(sqlite_url),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, stderr
    return proc.pid


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_export_killed_mid_way_leaves_a_complete_snapshot_and_the_next_one_sweeps(
    built: Engine, sqlite_url: str, tmp_path: Path, point: str
) -> None:
    import datasets

    out = tmp_path / "exports" / NAME
    export_dataset(built, NAME, out)
    before = tree_digest(out)
    (out / "old-marker").write_text("previous snapshot")

    pid = killed_export(sqlite_url, out, point)

    # The target is a complete snapshot: the old one (killed before the swap) or the new one.
    after = tree_digest(out)
    if point == "after-swap":
        assert not (out / "old-marker").exists()
        assert {k: v for k, v in after.items() if k != "manifest.json"} == {
            k: v for k, v in before.items() if k != "manifest.json"
        }
    else:
        assert after == {**before, "old-marker": hashlib.sha256(b"previous snapshot").hexdigest()}
    assert (
        len(datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf-cache")))
        == 5
    )
    # What the dead export left is hidden and tagged with its pid ...
    leftovers = [p.name for p in out.parent.iterdir() if p.name != NAME]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{NAME}.tmp-{pid}-")
    if point == "after-swap":  # the scratch name now holds the replaced snapshot
        assert (out.parent / leftovers[0] / "old-marker").exists()
    # ... and the next export removes it.
    export_dataset(built, NAME, out)
    assert [p.name for p in out.parent.iterdir()] == [NAME]
