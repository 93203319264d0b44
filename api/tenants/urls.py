"""Database URLs: the driver used for each backend (pysqlite, psycopg 3)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url

__all__ = ["ensure_sqlite_dir", "sync_url"]


def _base(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql")
    return parsed


def sync_url(url: str) -> URL:
    """The URL with a sync driver (for migrations): pysqlite or psycopg 3."""
    parsed = _base(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite database file if it is missing."""
    parsed = _base(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(str(parsed.database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
