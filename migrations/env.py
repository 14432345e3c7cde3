"""Alembic environment of the atlas job store.

The database comes from (first match): a connection handed over by the atlas code
(``config.attributes["connection"]``), ``alembic -x db=URL``, ``$ATLAS_DB``, the SQLite default.
"""

from __future__ import annotations

from alembic import context

from viterbo.atlas.db import make_engine, writer
from viterbo.atlas.models import metadata

config = context.config
target_metadata = metadata


def _configure_and_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("db")
    engine = writer(make_engine(url))
    with engine.begin() as conn:
        _configure_and_run(conn)


if context.is_offline_mode():  # pragma: no cover - offline SQL generation is not supported
    raise SystemExit("offline mode is not supported: run against a database")
run_migrations_online()
