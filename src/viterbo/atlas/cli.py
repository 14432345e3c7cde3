"""The ``atlas`` command line (click)."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="viterbo-atlas")
def main() -> None:
    """Compute symplectic invariants of convex polytopes at scale and publish them."""


def _add_commands() -> None:
    # Each command group lives in its own module; importing it registers its commands.
    from viterbo.atlas import compute_cli

    main.add_command(compute_cli.compute)


try:
    _add_commands()
except ImportError:  # pragma: no cover - modules still being written
    pass
