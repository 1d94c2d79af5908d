"""Alembic migrations of the store, applied by ``ivr.store.database.migrate``."""
