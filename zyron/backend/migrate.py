"""Schema migrations: ``python -m zyron.backend.migrate`` creates or upgrades the schema.

Migrations are numbered steps applied in order inside one transaction each, recorded in
``schema_migrations``; running it again applies nothing and exits 0. It waits (bounded)
for the database to accept connections, so it can start right after its container.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from .config import get_settings
from .db import make_engine, utcnow

log = logging.getLogger("zyron.backend.migrate")

_meta = MetaData()
schema_migrations = Table(
    "schema_migrations",
    _meta,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _m1_jobs(conn: Connection) -> None:
    # A snapshot of the table as first released; later steps alter it.
    meta = MetaData()
    Table(
        "jobs",
        meta,
        Column("id", String(64), primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("status", String(16), nullable=False, index=True),
        Column("filename", String(255)),
        Column("content_type", String(100)),
        Column("size_bytes", Integer, nullable=False, default=0),
        Column("params", Text, nullable=False, default="{}"),
        Column("error", Text),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True)),
    ).create(conn)


def _m2_results(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE jobs ADD COLUMN result_content_type VARCHAR(100)"))
    conn.execute(text("ALTER TABLE jobs ADD COLUMN result_width INTEGER"))
    conn.execute(text("ALTER TABLE jobs ADD COLUMN result_height INTEGER"))
    conn.execute(text("CREATE INDEX ix_jobs_created_at ON jobs (created_at)"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "jobs table", _m1_jobs),
    Migration(2, "job result columns, index on created_at", _m2_results),
)
HEAD = MIGRATIONS[-1].version


def current_version(engine: Engine) -> int:
    """The highest applied migration; 0 for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("schema_migrations"):
            return 0
        versions = conn.execute(select(schema_migrations.c.version)).scalars().all()
    return max(versions, default=0)


def upgrade(engine: Engine) -> list[Migration]:
    """Apply every pending migration; returns those applied."""
    schema_migrations.create(engine, checkfirst=True)
    done = current_version(engine)
    applied = []
    for step in MIGRATIONS:
        if step.version <= done:
            continue
        with engine.begin() as conn:  # one transaction per step
            step.apply(conn)
            conn.execute(
                schema_migrations.insert().values(
                    version=step.version, description=step.description, applied_at=utcnow()
                )
            )
        log.info("applied migration %d: %s", step.version, step.description)
        applied.append(step)
    return applied


def wait_for_database(engine: Engine, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m zyron.backend.migrate",
        description="Create or upgrade the backend's database schema (BACKEND_DATABASE__URL).",
    )
    parser.add_argument("--status", action="store_true", help="print the schema version and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    engine = make_engine(
        settings.database.url, connect_timeout_s=settings.database.connect_timeout_s
    )
    where = engine.url.render_as_string(hide_password=True)
    try:
        wait_for_database(engine, settings.database.migrate_wait_s)
        if args.status:
            version = current_version(engine)
            print(f"{where}: schema version {version} (head {HEAD})")
            return 0 if version == HEAD else 1
        applied = upgrade(engine)
    except SQLAlchemyError as exc:
        print(f"migrate: {where}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if applied:
        print(f"{where}: applied {len(applied)} migration(s), schema at version {HEAD}")
    else:
        print(f"{where}: schema is up to date (version {HEAD})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
