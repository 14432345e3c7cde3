"""Writing a snapshot safely: scratch folders next to the target, swapped into place atomically."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from viterbo.atlas.errors import ExportError

# ------------------------------------------------------------------------ swap into place
#
# A snapshot is written to a hidden scratch folder next to its target, ``.NAME.tmp-PID-XXXXXXXX``,
# and swapped into place.  On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``: readers see
# the old tree or the new one, the target path never vanishes.  Where the kernel, the C library
# or the filesystem lacks it, two renames (old tree away as ``.NAME.old-PID-XXXXXXXX``, new tree
# in) leave a window of microseconds in which the path is absent.  The creating pid in the
# scratch names lets the next export remove what a killed one left behind, and nothing else.

AT_FDCWD = -100


RENAME_EXCHANGE = 2


SCRATCH_KINDS = ("tmp", "old")


def _require_writable_folder(target: Path) -> None:
    """Refuse early, naming the OS's reason, when no snapshot can be written next to ``target``.

    The probe creates (and removes) a scratch folder of the kind the swap uses, so pseudo file
    systems such as /proc, read-only mounts and missing permissions are told apart by the OS's
    own error instead of being guessed from free space.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        probe = _scratch_path(target, "tmp")
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExportError(
            f"cannot write the snapshot {target}: {reason} (in {target.parent})"
        ) from None


def _scratch_path(target: Path, kind: str) -> Path:
    """A fresh hidden scratch folder name next to ``target`` tagged with this process's pid."""
    return target.parent / f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _scratch_pattern(name: str) -> re.Pattern[str]:
    kinds = "|".join(SCRATCH_KINDS)
    return re.compile(rf"^\.{re.escape(name)}\.(?:{kinds})-(?P<pid>[0-9]+)-[0-9a-f]{{8}}$")


def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (zombies and others' processes count)."""
    if pid <= 0:
        return True  # never a scratch folder of ours: keep it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    return True


def sweep_stale_scratch(target: Path) -> list[Path]:
    """Remove the scratch folders of exports to ``target`` whose creating process is gone.

    Only folders named exactly ``.NAME.tmp-PID-XXXXXXXX`` / ``.NAME.old-PID-XXXXXXXX`` (``NAME``
    = ``target.name``, ``XXXXXXXX`` 8 hex digits) directly next to ``target`` are candidates,
    and only when no process ``PID`` exists; a live pid (an export still running) keeps its
    folder.  Symlinks and files are never touched.

    Returns
    -------
    list of Path
        The folders removed.
    """
    pattern = _scratch_pattern(target.name)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        if _pid_alive(int(match["pid"])):
            continue
        _remove_tree(Path(entry.path))
        removed.append(Path(entry.path))
    return removed


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def exchange_paths(a: Path, b: Path) -> bool:
    """Atomically swap the directory entries ``a`` and ``b`` (Linux ``renameat2`` exchange).

    Returns
    -------
    bool
        ``True`` when swapped; ``False`` when this system cannot (no ``renameat2`` in the C
        library, or the kernel/filesystem answers ``ENOSYS``/``EINVAL``): nothing changed.

    Raises
    ------
    OSError
        Any other failure (missing path, permissions, different filesystems).
    """
    func = _renameat2()
    if func is None:
        return False
    rc = func(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _renameat2() -> Any:
    """``renameat2`` from the C library (glibc >= 2.28), or ``None`` where there is none."""
    if sys.platform != "linux":
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Make the finished tree ``tmp`` the snapshot at ``target``; delete the replaced one.

    After the exchange ``tmp`` names the old snapshot (still tagged with this pid, so a kill
    before the delete leaves a folder that the next export sweeps).
    """
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ExportError(f"export target {str(target)!r} exists and is not a folder")
    if not target.exists():
        os.rename(tmp, target)
        return
    if exchange_paths(tmp, target):
        _remove_tree(tmp)
        return
    old = _scratch_path(target, "old")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)  # put the previous snapshot back
        raise
    _remove_tree(old)
