"""The ``atlas`` command line (click).

User errors (bad preset, URL, database, export name, ...) end with a one-line ``Error: ...``
and exit code 2, never a traceback; the database is left as it was.
"""

from __future__ import annotations

import importlib
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from viterbo.atlas.errors import AtlasError
from viterbo.atlas.kinds import kind_names, known_families, load_plugins, plugin_checkpoint

USER_ERROR_EXIT = 2


class AtlasCliError(click.ClickException):
    """A user error, printed as one line without a traceback."""

    exit_code = USER_ERROR_EXIT


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


# Imports marked "lazy: start-up" happen inside the command that needs them: measured with
# `python -X importtime`, the store and db cost ~130 ms (SQLAlchemy's ORM and dialects), status
# and worker ~140 ms, presets ~0.95 s (families, scipy), export ~0.8 s (datasets) and the
# registry loads every algorithm; `atlas --help` needs none of them (0.3 s cold).
# Commands whose module is imported only when the command runs: `atlas compute` needs the
# geometry layer (numpy, scipy: about 0.5 s), which `atlas --help` and `atlas status` do not.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "compute": (
        "viterbo.atlas.compute_cli",
        "compute",
        "Compute the invariants of one polytope read from FILE (JSON; '-' for stdin).",
    ),
}


class AtlasGroup(click.Group):
    """Turns atlas, database and OS errors raised by any command into one-line errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attribute, _ = LAZY_COMMANDS[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, without importing the lazy commands for their one-line help."""
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS and name not in self.commands:
                stub = click.Command(name, help=LAZY_COMMANDS[name][2])
                rows.append((name, stub.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AtlasError as exc:
            raise AtlasCliError(str(exc)) from None
        except _database_errors() as exc:
            raise AtlasCliError(f"database error: {_one_line(exc)}") from None
        except RecursionError:  # a pathologically nested input anywhere a command reads one
            raise AtlasCliError("the input nests too deeply to be read") from None
        except OSError as exc:
            raise AtlasCliError(
                f"{exc.strerror or exc}{f': {exc.filename!r}' if exc.filename else ''}"
            ) from None


def _database_errors() -> tuple[type[BaseException], ...]:
    """sqlite3's and SQLAlchemy's errors, without importing SQLAlchemy (0.2 s of `--help`).

    A command that never imported SQLAlchemy cannot have raised one of its errors.
    """
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is None:
        return (sqlite3.Error,)
    return (sqlite3.Error, sqlalchemy_exc.SQLAlchemyError)


@click.group(cls=AtlasGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="viterbo-atlas")
def main() -> None:
    """Compute symplectic invariants of convex polytopes at scale and publish them."""
    # On a terminal each message first clears the live progress line it would be glued to
    # (worker processes inherit this handler); the next refresh redraws the line below it.
    prefix = "\r\033[K" if sys.stderr.isatty() else ""
    logging.basicConfig(level=logging.INFO, format=prefix + "%(message)s", stream=sys.stderr)
    # Alembic logs every migration step at INFO; only the outcome matters to users.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--db URL`` (also ``$ATLAS_DB``); default ``sqlite:///artefacts/atlas.sqlite``."""
    return click.option(
        "--db",
        "db_url",
        envvar="ATLAS_DB",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL of the job store (sqlite:///FILE or postgresql://...); default: $ATLAS_DB or artefacts/atlas.sqlite.",
    )(func)


def _open(db_url: str | None, *, create: bool = False) -> Any:
    """The job store; only ``enqueue`` and ``build`` may create it (``create=True``)."""
    from viterbo.atlas.db import open_database  # lazy: start-up

    return open_database(db_url, create=create)


# ---------------------------------------------------------------------------- enqueue


def _enqueue(db_url: str | None, preset: str) -> tuple[int, int]:
    from viterbo.atlas.presets import (  # lazy: start-up
        generate_specs,
        load_preset,
        validate_families,
    )
    from viterbo.atlas.store import JobStore  # lazy: start-up

    items = load_preset(preset)
    validate_families(items)
    specs = generate_specs(items)
    engine = _open(db_url, create=True)
    try:
        return JobStore(engine).enqueue(specs), len(specs)
    finally:
        engine.dispose()


@main.command()
@click.argument("preset")
@db_option
def enqueue(preset: str, db_url: str | None) -> None:
    """Queue the generate jobs of PRESET (a preset name or a .json preset file); idempotent."""
    new, total = _enqueue(db_url, preset)
    click.echo(f"{new} new jobs queued ({total - new} of {total} polytopes were already queued)")


# ------------------------------------------------------------------------------- work


class ProgressPrinter:
    """A live progress line on a terminal; a plain log line every ``every`` s otherwise."""

    def __init__(self, engine: Any, every: float = 10.0, quiet: bool = False) -> None:
        from viterbo.atlas.store import JobStore  # lazy: start-up

        self.store = JobStore(engine)
        self.tty = sys.stderr.isatty()
        self.every = 1.0 if self.tty else every
        self.last = time.monotonic()
        self.quiet = quiet

    def __call__(self, final: bool = False) -> None:
        from sqlalchemy.exc import SQLAlchemyError  # lazy: start-up (loaded by now anyway)

        from viterbo.atlas.status import progress, progress_line  # lazy: start-up

        now = time.monotonic()
        if self.quiet or (not final and now - self.last < self.every):
            return
        self.last = now
        try:
            line = progress_line(progress(self.store, window=60.0))
        except SQLAlchemyError:  # busy database: skip this refresh
            return
        if self.tty:
            click.echo(f"\r\033[K{line}", nl=final, err=True)
        else:
            click.echo(line, err=True)


def _configure_output(quiet: bool, verbose: bool, log_file: Path | None) -> None:
    """``--quiet``: warnings only, no progress; ``--verbose``: every finished job; ``--log-file``:
    everything (every finished job, with times and process ids) appended to a file."""
    if quiet and verbose:
        raise AtlasCliError("--quiet and --verbose exclude each other")
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            raise AtlasCliError(f"cannot write the log file {log_file}: {exc.strerror}") from None
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
        root.addHandler(handler)
    # Other libraries stay at INFO (matplotlib's DEBUG output would swamp the file).
    root.setLevel(logging.INFO)
    logging.getLogger("viterbo").setLevel(
        logging.DEBUG if verbose or log_file is not None else logging.INFO
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--quiet``, ``--verbose`` and ``--log-file`` of the commands that run workers."""
    func = click.option(
        "--log-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Also append every message (every finished job) to FILE.",
    )(func)
    func = click.option(
        "--verbose", "-v", is_flag=True, help="Log every finished job, not only failures."
    )(func)
    return click.option(
        "--quiet", "-q", is_flag=True, help="Only warnings and errors; no progress line."
    )(func)


def _work(db_url: str | None, workers: int, options: Any, quiet: bool = False) -> None:
    """Run the workers; user-facing errors for interrupted runs and crashed workers."""
    from viterbo.atlas.db import resolve_url  # lazy: start-up
    from viterbo.atlas.worker import run_workers  # lazy: start-up

    load_plugins()  # a bad $ATLAS_PLUGINS is one error here, not one traceback per worker
    url = resolve_url(db_url)
    engine = _open(url)  # migrates once, before the workers fork
    engine.dispose()
    printer = ProgressPrinter(engine, quiet=quiet)
    summary = run_workers(url, workers, options, monitor=printer)
    printer(final=True)
    engine.dispose()
    if summary.interrupted:
        click.echo(
            "interrupted: running jobs were released and will be picked up by the next `atlas work`",
            err=True,
        )
        raise SystemExit(130)
    if summary.failed_workers:
        raise AtlasCliError(
            f"{summary.failed_workers} worker process(es) exited abnormally (see messages above)"
        )


def _parse_timeouts(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in values:
        name, sep, seconds = value.partition("=")
        try:
            out[name.strip()] = float(seconds)
        except ValueError:
            seconds = ""
        if not sep or not name.strip() or not seconds or out[name.strip()] <= 0:
            raise click.BadParameter(f"expected QUANTITY=SECONDS with SECONDS > 0, got {value!r}")
    return out


def work_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``work`` and ``build``."""
    opts = [
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Worker processes.",
        ),
        click.option(
            "--job-timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            metavar="S",
            help="Wall-clock limit per job in seconds (default: per quantity, 60-600 s).",
        ),
        click.option(
            "--timeout",
            "quantity_timeouts",
            multiple=True,
            callback=_parse_timeouts,
            metavar="QUANTITY=S",
            help="Wall-clock limit for one quantity (or 'generate'); repeatable; beats --job-timeout.",
        ),
        click.option(
            "--memory-limit",
            type=click.FloatRange(min=0, min_open=True),
            default=4096.0,
            show_default=True,
            metavar="MIB",
            help="Address-space limit of each job's process.",
        ),
        click.option(
            "--lease-seconds",
            type=click.FloatRange(min=0.5),
            default=60.0,
            show_default=True,
            help="Lease length; a dead worker's job is taken over after this.",
        ),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _options(
    job_timeout: float | None,
    quantity_timeouts: dict[str, float],
    memory_limit: float,
    lease_seconds: float,
    max_jobs: int | None = None,
    forever: bool = False,
    batch: int = 64,
) -> Any:
    from viterbo.atlas.worker import WorkerOptions  # lazy: start-up

    options = WorkerOptions(
        lease_seconds=lease_seconds,
        job_timeout=job_timeout,
        quantity_timeouts=dict(quantity_timeouts),
        memory_limit_mb=memory_limit,
        max_jobs=max_jobs,
        forever=forever,
        max_batch=batch,
    )
    hook = plugin_checkpoint()
    return options if hook is None else replace(options, checkpoint=hook)


@main.command()
@work_options
@click.option(
    "--max-jobs",
    type=click.IntRange(min=0),
    default=None,
    help="Stop after this many jobs (all workers together).",
)
@click.option(
    "--forever",
    is_flag=True,
    help="Keep polling for new jobs instead of exiting when none are left.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Largest claim batch (reached only while jobs are trivial).",
)
@output_options
@db_option
def work(
    workers: int,
    job_timeout: float | None,
    quantity_timeouts: dict[str, float],
    memory_limit: float,
    lease_seconds: float,
    max_jobs: int | None,
    forever: bool,
    batch: int,
    quiet: bool,
    verbose: bool,
    log_file: Path | None,
    db_url: str | None,
) -> None:
    """Claim and run jobs until none is left (Ctrl-C releases the current jobs)."""
    _configure_output(quiet, verbose, log_file)
    opts = _options(
        job_timeout, quantity_timeouts, memory_limit, lease_seconds, max_jobs, forever, batch
    )
    _work(db_url, workers, opts, quiet)


# ----------------------------------------------------------------------------- status


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the same facts as one JSON object.")
@db_option
def status(as_json: bool, db_url: str | None) -> None:
    """Counts per status, family and algorithm; progress, ETA and recent failures."""
    from viterbo.atlas.status import status_report, status_summary  # lazy: start-up
    from viterbo.atlas.store import JobStore  # lazy: start-up

    engine = _open(db_url)
    try:
        if as_json:
            summary = status_summary(JobStore(engine))
            summary.pop("_progress")
            click.echo(json.dumps(summary, sort_keys=True))
        else:
            click.echo(status_report(JobStore(engine)))
    finally:
        engine.dispose()


# ------------------------------------------------------------------------ retry / cancel


def _job_filter(kind: str | None, quantity: str | None, algorithm: str | None) -> Any:
    """The jobs an operator names; unknown names are a one-line error listing the known ones."""
    from viterbo.atlas.store import JobFilter  # lazy: start-up
    from viterbo.invariants import registry  # lazy: start-up

    algorithms = registry.algorithms()
    for what, value, known in (
        ("kind", kind, kind_names()),
        ("quantity", quantity, sorted({a.quantity for a in algorithms})),
        ("algorithm", algorithm, sorted({a.name for a in algorithms})),
    ):
        if value is not None and value not in known:
            raise AtlasCliError(f"unknown {what} {value!r} (known: {', '.join(known)})")
    return JobFilter(kind, quantity, algorithm)


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--kind``, ``--quantity`` and ``--algorithm``: which jobs an operator command means."""
    for name, help_text in reversed(
        [
            ("--kind", "Only jobs of this kind (generate, quantity)."),
            ("--quantity", "Only jobs of this quantity (capacity, spectrum, volume, ...)."),
            ("--algorithm", "Only jobs of this algorithm (reeb, haim-kislev, ...)."),
        ]
    ):
        func = click.option(name, default=None, metavar="NAME", help=help_text)(func)
    return func


@main.command()
@filter_options
@click.option("--cancelled", is_flag=True, help="Also run the jobs `atlas cancel` skipped.")
@db_option
def retry(
    kind: str | None,
    quantity: str | None,
    algorithm: str | None,
    cancelled: bool,
    db_url: str | None,
) -> None:
    """Put failed and timed-out jobs back in the queue (then run `atlas work`).

    Finished jobs computed from them (the certificate, the systolic ratio) are reset too, so
    they are recomputed with the new results.
    """
    from viterbo.atlas.store import JobStore  # lazy: start-up

    which = _job_filter(kind, quantity, algorithm)
    engine = _open(db_url)
    try:
        retried, reset = JobStore(engine).retry(which, cancelled=cancelled)
    finally:
        engine.dispose()
    click.echo(
        f"{retried} jobs back to pending, {reset} finished dependents reset to blocked"
        + ("; run `atlas work`" if retried else "")
    )


@main.command()
@filter_options
@db_option
def cancel(
    kind: str | None, quantity: str | None, algorithm: str | None, db_url: str | None
) -> None:
    """Skip pending and blocked jobs (running ones finish); `atlas retry --cancelled` undoes it."""
    from viterbo.atlas.store import JobStore  # lazy: start-up

    which = _job_filter(kind, quantity, algorithm)
    engine = _open(db_url)
    try:
        cancelled = JobStore(engine).cancel(which)
    finally:
        engine.dispose()
    click.echo(f"{cancelled} pending or blocked jobs cancelled (status skipped)")


# ------------------------------------------------------------------------------- list


@main.command("list")
def list_() -> None:
    """Presets, families and invariants (quantity/algorithm), one line each."""
    from viterbo.atlas.presets import PRESET_DESCRIPTIONS, PRESETS, polytope_keys  # lazy: start-up
    from viterbo.families import FAMILIES  # lazy: start-up
    from viterbo.invariants import registry  # lazy: start-up

    click.echo("presets:")
    for name in sorted(PRESETS):
        count = len(polytope_keys(PRESETS[name]))
        click.echo(
            f"  {name:<20} {count} polytopes; {PRESET_DESCRIPTIONS.get(name, '')}".rstrip("; ")
        )
    click.echo("families:")
    for name in sorted(known_families()):
        family = FAMILIES.get(name)
        click.echo(f"  {name:<20} {_first_sentence(family.description) if family else '(plugin)'}")
    click.echo("invariants:")
    for alg in registry.algorithms():
        click.echo(f"  {alg.key:<28} {_first_sentence(alg.description)}")


def _first_sentence(text: str, width: int = 100) -> str:
    """The first sentence or clause of ``text``, at most ``width`` characters."""
    line = " ".join(text.split())
    ends = [i for i in (line.find(". "), line.find(": ")) if i >= 0]
    line = line[: min(ends) + 1] if ends else line
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


# ----------------------------------------------------------------------------- export


def _export(db_url: str | None, name: str, out: Path | None, allow_partial: bool = False) -> None:
    from viterbo.atlas.export import export_dataset, validate_export_name  # lazy: start-up

    validate_export_name(name)  # before touching the database
    engine = _open(db_url)
    try:
        info = export_dataset(engine, name, out, allow_partial=allow_partial)
    finally:
        engine.dispose()
    partial = "" if info["complete"] else " -- a PARTIAL build (--allow-partial), the card says so"
    for key, drift in info["policy_drift"].items():
        click.echo(
            f"warning: {drift['jobs']} {key} jobs ran with limits {drift['as_run']}, not the "
            f"preset policy's {drift['policy']} (created under an earlier policy); the card says so",
            err=True,
        )
    click.echo(
        f"exported {info['rows']} polytopes to {info['path']} (content hash {info['content_hash'][:16]}...)"
        f"{partial}"
    )


@main.command()
@click.argument("name")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output folder (default artefacts/datasets/NAME).",
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Publish even if the build is not complete (the card and manifest say so).",
)
@db_option
def export(name: str, out: Path | None, allow_partial: bool, db_url: str | None) -> None:
    """Write the dataset NAME (atlas-tiny, atlas-small, ...): Parquet + card + manifest + benchmark.

    Refuses (exit 2) unless the database holds the whole build: for atlas-PRESET every polytope
    of PRESET generated and none of its jobs pending, blocked or running.
    """
    _export(db_url, name, out, allow_partial)


# ------------------------------------------------------------------------------ prune


@main.command()
@click.option(
    "--older-than",
    "older_than_days",
    type=click.FloatRange(min=0),
    required=True,
    metavar="DAYS",
    help="Only jobs that finished more than DAYS days ago (fractions allowed).",
)
@click.option(
    "--vacuum",
    is_flag=True,
    help="Afterwards give the freed space back to the disk (SQLite: only while no job runs).",
)
@click.option("--dry-run", is_flag=True, help="Only count the jobs that would be pruned.")
@db_option
def prune(older_than_days: float, vacuum: bool, dry_run: bool, db_url: str | None) -> None:
    """Drop run diagnostics (tracebacks, heartbeats) of old finished jobs; results are kept.

    Everything `atlas export` reads (results, statuses, timings, error messages, polytopes)
    is never touched, so datasets exported before and after a prune are identical.
    """
    from viterbo.atlas.db import database_size_bytes  # lazy: start-up
    from viterbo.atlas.db import vacuum as vacuum_database  # lazy: start-up
    from viterbo.atlas.store import JobStore  # lazy: start-up

    engine = _open(db_url)
    try:
        n = JobStore(engine).prune(older_than_days * 86400.0, dry_run=dry_run)
        verb = "would prune" if dry_run else "pruned"
        click.echo(
            f"{verb} {n} finished job(s) older than {older_than_days:g} day(s) (tracebacks, heartbeats; results kept)"
        )
        if vacuum and not dry_run:
            before = database_size_bytes(engine)
            vacuum_database(engine)
            after = database_size_bytes(engine)
            click.echo(f"vacuumed: {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB")
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------ build


@main.command()
@click.argument("preset")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Output folder (default artefacts/datasets/atlas-PRESET).",
)
@work_options
@output_options
@db_option
def build(
    preset: str,
    out: Path | None,
    workers: int,
    job_timeout: float | None,
    quantity_timeouts: dict[str, float],
    memory_limit: float,
    lease_seconds: float,
    quiet: bool,
    verbose: bool,
    log_file: Path | None,
    db_url: str | None,
) -> None:
    """Enqueue PRESET, work until everything is done, export it as atlas-PRESET."""
    from viterbo.atlas.export import validate_export_name  # lazy: start-up

    _configure_output(quiet, verbose, log_file)
    name = f"atlas-{Path(preset).stem if preset.endswith('.json') else preset}"
    validate_export_name(name)
    new, total = _enqueue(db_url, preset)
    if not quiet:
        click.echo(f"{new} new jobs queued ({total} polytopes in {preset})", err=True)
    opts = _options(job_timeout, quantity_timeouts, memory_limit, lease_seconds)
    _work(db_url, workers, opts, quiet)
    _export(db_url, name, out)


# -------------------------------------------------------------------------------- search


def _search_starts(
    from_family: str | None, family_params: str, files: tuple[Path, ...], count: int
) -> list[Any]:
    """The start polytopes the operator names: a family's first COUNT members, or files."""
    from viterbo.atlas.search.plan import SearchPlanError, family_starts  # lazy: start-up
    from viterbo.geometry import Polytope  # lazy: start-up (scipy)

    if from_family and files:
        raise AtlasCliError("give --from-family or --from-file, not both")
    if from_family:
        try:
            params = json.loads(family_params)
        except ValueError as exc:
            raise AtlasCliError(f"--family-params is not JSON: {exc}") from None
        if not isinstance(params, dict):
            raise AtlasCliError("--family-params must be a JSON object")
        return family_starts(from_family, params, count)
    polytopes = []
    for path in files:
        try:
            polytopes.append(Polytope.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SearchPlanError(f"{path}: not a polytope file ({_one_line(exc)})") from None
    return polytopes


@main.command()
@click.argument("name")
@click.option(
    "--space",
    default=None,
    metavar="SPACE",
    help="halfspace:M (M facets), lagrangian-product:K,L or symplectic-product:K,L; "
    "with --from-family/--from-file the default is the starts' own space.",
)
@click.option("--starts", type=click.IntRange(1), default=20, show_default=True, help="Climbs.")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Start i draws from (seed, i)."
)
@click.option(
    "--max-trials",
    type=click.IntRange(1),
    default=400,
    show_default=True,
    help="Trial points per climb before it stops.",
)
@click.option(
    "--trials-per-job",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Trials per job, the checkpoint unit: a killed worker repeats at most this many "
    "(the climb does not depend on it).",
)
@click.option(
    "--from-family", default=None, metavar="FAMILY", help="Start from a family's members."
)
@click.option(
    "--family-params", default="{}", show_default=True, help="JSON params of --from-family."
)
@click.option(
    "--from-file",
    "files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Start from a polytope file (JSON vertices or normals/offsets); repeatable.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write the atlas-search dataset of this search here when it is done.",
)
@click.option("--enqueue-only", is_flag=True, help="Only queue the starts (run `atlas work`).")
@work_options
@output_options
@db_option
def search(
    name: str,
    space: str | None,
    starts: int,
    seed: int,
    max_trials: int,
    trials_per_job: int,
    from_family: str | None,
    family_params: str,
    files: tuple[Path, ...],
    out: Path | None,
    enqueue_only: bool,
    workers: int,
    job_timeout: float | None,
    quantity_timeouts: dict[str, float],
    memory_limit: float,
    lease_seconds: float,
    quiet: bool,
    verbose: bool,
    log_file: Path | None,
    db_url: str | None,
) -> None:
    """Climb to local maxima of the certified systolic ratio from STARTS starts.

    Each start is a chain of jobs of --trials-per-job trials, so a search resumes after any
    crash and spreads over workers like a build; re-running the command adds nothing new.
    `atlas status` shows every search's progress and best ratio.
    """
    from viterbo.atlas.search.plan import space_for, start_specs  # lazy: start-up (scipy)
    from viterbo.atlas.search.publish import export_search  # lazy: start-up (datasets)
    from viterbo.atlas.search.results import start_states, summaries  # lazy: start-up
    from viterbo.atlas.store import JobStore  # lazy: start-up

    _configure_output(quiet, verbose, log_file)
    polytopes = _search_starts(from_family, family_params, files, starts)
    chosen = space_for(space, polytopes)
    specs = start_specs(
        name,
        chosen,
        starts=starts,
        seed=seed,
        max_trials=max_trials,
        trials_per_job=trials_per_job,
        polytopes=polytopes,
    )
    engine = _open(db_url, create=True)
    try:
        new = JobStore(engine).enqueue(specs)
    finally:
        engine.dispose()
    if not quiet:
        click.echo(f"{new} new starts queued for search {name!r} ({chosen.spec})", err=True)
    if enqueue_only:
        return
    _work(
        db_url,
        workers,
        _options(job_timeout, quantity_timeouts, memory_limit, lease_seconds),
        quiet,
    )
    engine = _open(db_url)
    try:
        store = JobStore(engine)
        for line in summaries(start_states(store, name)):
            click.echo(json.dumps(line, sort_keys=True))
        if out is not None:
            written = export_search(store, out, search=name)
            click.echo(f"wrote {written['rows']} rows to {written['path']}", err=True)
    finally:
        engine.dispose()
