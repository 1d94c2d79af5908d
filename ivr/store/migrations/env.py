"""Alembic's entry point, run by ``ivr.store.database.migrate`` on a connection.

The app migrates on start (under a lock, so several workers or machines starting
at once do it once); there is no ``alembic.ini``: the connection comes in through
``config.attributes``.
"""

from __future__ import annotations

from alembic import context

from ivr.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
