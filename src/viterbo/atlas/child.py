"""Run one job's computation in a forked child process with a wall-clock and memory limit.

The child gets its own session (process group), so the parent can kill everything the
computation started with one ``killpg``, and a terminal's Ctrl-C reaches the worker only (which
then decides what to do).  The result travels back as JSON over a pipe; CPU time and peak RSS
come from ``wait4``'s rusage of that one child.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

from viterbo.atlas.models import DONE, FAILED, TIMED_OUT
from viterbo.atlas.store import Outcome

MIB = 1024 * 1024


def _is_time_budget(exc: BaseException) -> bool:
    # Matched by name so that the atlas does not import the invariants layer just for this
    # (a WorkBudgetExceeded is one too: a subclass).
    return any(cls.__name__ == "TimeBudgetExceeded" for cls in type(exc).__mro__)


def outcome_from_exception(
    exc: BaseException, memory_limit_mb: float | None = None
) -> dict[str, Any]:
    """The JSON message describing how ``exc`` ended a job."""
    if _is_time_budget(exc):
        return {
            "status": TIMED_OUT,
            "error_type": type(exc).__name__,
            "error_message": str(exc),
            "traceback": None,
        }
    if isinstance(exc, MemoryError):
        limit = f" (memory limit {memory_limit_mb:g} MiB)" if memory_limit_mb else ""
        return {
            "status": FAILED,
            "error_type": "MemoryError",
            "error_message": f"out of memory{limit}",
            "traceback": None,
        }
    return {
        "status": FAILED,
        "error_type": type(exc).__name__,
        "error_message": (str(exc).strip().splitlines() or [type(exc).__name__])[0],
        "traceback": "".join(traceback.format_exception(exc)),
    }


def run_inline(run: Callable[[dict[str, Any]], dict[str, Any]], payload: dict[str, Any]) -> Outcome:
    """Run a job in this process (no limits): trivial kinds and cheap quantities.

    The outcome has the same fields as :func:`run_in_child`'s: the result after a JSON round
    trip (so the stored row is the same), wall and CPU seconds, and as peak memory this
    process's peak RSS so far (an upper bound of the job's, as a child's includes the memory
    it inherits).
    """
    start, cpu0 = time.perf_counter(), time.process_time()
    try:
        # Same contract as the child path: JSON or failure, and the same (round-tripped) data.
        message: dict[str, Any] = {"status": DONE, "result": json.loads(json.dumps(run(payload)))}
    except Exception as exc:
        message = outcome_from_exception(exc)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return _outcome(message, wall, cpu, peak_mb)


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

    A process whose parent is killed (even with SIGKILL) then stops at once instead of running
    on as an orphan: a job's computation after its worker died, a worker after ``atlas work``
    died.  Their claimed jobs go back to pending when the lease expires.  ``parent_pid`` closes
    the race of a parent that died before the call (the orphan has been re-parented by then).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(71)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _child_main(
    write_fd: int,
    run: Callable[[dict[str, Any]], dict[str, Any]],
    payload: dict[str, Any],
    memory_limit_mb: float | None,
    parent_pid: int,
) -> None:
    code = 0
    try:
        os.setsid()
        die_with_parent(parent_pid)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if memory_limit_mb:
            limit = int(memory_limit_mb * MIB)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            data = json.dumps({"status": DONE, "result": run(payload)}).encode()
        except BaseException as exc:  # everything, incl. SystemExit from library code
            data = json.dumps(outcome_from_exception(exc, memory_limit_mb)).encode()
        view = memoryview(data)
        while view:
            n = os.write(write_fd, view)
            view = view[n:]
    except BaseException:  # even the report failed (e.g. out of memory while encoding)
        code = 70
    finally:
        os._exit(code)


def run_in_child(
    run: Callable[[dict[str, Any]], dict[str, Any]],
    payload: dict[str, Any],
    *,
    timeout: float | None,
    memory_limit_mb: float | None,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 10.0,
    should_abort: Callable[[], bool] | None = None,
) -> Outcome | None:
    """Run ``run(payload)`` in a forked child; return its :class:`Outcome`.

    ``on_tick`` is called about every ``tick_seconds`` while the child runs (lease heartbeat).
    When ``should_abort()`` turns true (Ctrl-C) the child is killed and ``None`` is returned:
    the caller releases the job instead of recording it.
    """
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, reports through the pipe
        os.close(read_fd)
        _child_main(write_fd, run, payload, memory_limit_mb, parent)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = start + timeout if timeout else None
    next_tick = start + tick_seconds
    reason: str | None = None
    try:
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                reason = "timeout"
                break
            if should_abort is not None and should_abort():
                reason = "abort"
                break
            if on_tick is not None and now >= next_tick:
                on_tick()
                next_tick = now + tick_seconds
            wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - now))
            ready, _, _ = select.select([read_fd], [], [], wait)
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break  # EOF: the child wrote its report (or died)
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        if reason is not None:
            _kill_group(pid)
        _, status, usage = os.wait4(pid, 0)
        _kill_group(pid)  # anything the computation left behind in its group
    wall = time.monotonic() - start
    cpu = usage.ru_utime + usage.ru_stime
    peak_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    if reason == "abort":
        return None
    if reason == "timeout":
        return Outcome(
            TIMED_OUT,
            error_type="Timeout",
            error_message=f"killed after the wall-clock limit of {timeout:g} s",
            wall_seconds=wall,
            cpu_seconds=cpu,
            peak_rss_mb=peak_mb,
        )
    data = b"".join(chunks)
    if data:
        try:
            message = json.loads(data)
        except ValueError:
            message = {
                "status": FAILED,
                "error_type": "ChildProtocolError",
                "error_message": "child sent an unreadable report",
            }
        return _outcome(message, wall, cpu, peak_mb)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        hint = " (likely out of memory)" if sig == signal.SIGKILL else ""
        msg = f"child killed by signal {signal.Signals(sig).name}{hint}"
    else:
        msg = f"child exited with code {os.WEXITSTATUS(status)} without a report"
        if memory_limit_mb:
            msg += f" (memory limit {memory_limit_mb:g} MiB?)"
    return Outcome(
        FAILED,
        error_type="ChildDied",
        error_message=msg,
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_mb=peak_mb,
    )


def _kill_group(pid: int) -> None:
    # The child may not have reached setsid() yet: kill the process itself as well.
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(pid, signal.SIGKILL)


def _outcome(message: dict[str, Any], wall: float, cpu: float, peak_mb: float | None) -> Outcome:
    return Outcome(
        status=message["status"],
        result=message.get("result"),
        error_type=message.get("error_type"),
        error_message=message.get("error_message"),
        traceback=message.get("traceback"),
        wall_seconds=wall,
        cpu_seconds=cpu,
        peak_rss_mb=peak_mb,
    )
