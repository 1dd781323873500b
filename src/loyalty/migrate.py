"""Alembic, driven from code: `loyalty db upgrade` and the test suite use the same entry point."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from loyalty.db import async_url


def default_script_location() -> Path:
    """The service's migrations: `migrations/` in a checkout, `loyalty/_migrations` in a built wheel."""
    packaged = Path(__file__).parent / "_migrations"  # inside a built wheel
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str, *, script_location: str | Path | None = None) -> Config:
    """`script_location` replaces the service's migrations directory (the tests use one of their own)."""
    async_url(database_url)  # fail early, in one line, on a URL we cannot use
    config = Config()
    config.set_main_option("script_location", str(script_location or default_script_location()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


# --- Schema state: the database's revision against the code's head -------------------------------

OK, MISSING, BEHIND, AHEAD = "ok", "missing", "behind", "ahead"


@dataclass(frozen=True)
class SchemaState:
    """`state`: "ok" (the database is at the code's head), "missing" (never migrated: no revision),
    "behind" (an older revision: `loyalty db upgrade` brings it to head) or "ahead" (a revision
    these migrations do not have: a newer release migrated it). `revision` is the database's
    revision id (None when missing), `head` the code's."""

    state: str
    revision: str | None
    head: str

    @property
    def ok(self) -> bool:
        return self.state == OK

    def advice(self) -> str:
        """One sentence for a person: what is wrong and what to run."""
        if self.state == MISSING:
            return f"the database has no schema yet (the code needs revision {self.head}); run `loyalty db upgrade`"
        if self.state == BEHIND:
            return (
                f"the database schema is at revision {self.revision}, behind the code's {self.head}; "
                "run `loyalty db upgrade`"
            )
        return (
            f"the database schema is at revision {self.revision}, which this code does not know "
            f"(its head is {self.head}): a newer release migrated it; run that release"
        )


@lru_cache(maxsize=1)
def _script_directory() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(default_script_location()))
    return ScriptDirectory.from_config(config)


@lru_cache(maxsize=1)
def code_head() -> str:
    """The revision id the code's migrations end at (read from the files once per process)."""
    head = _script_directory().get_current_head()
    assert head is not None, "the migrations have more than one head, or none"
    return head


@lru_cache(maxsize=1)
def _known_revisions() -> frozenset[str]:
    return frozenset(script.revision for script in _script_directory().walk_revisions())


def state_of(revision: str | None) -> SchemaState:
    """The state of a database at `revision` (None: no `alembic_version` row or table)."""
    head = code_head()
    if revision == head:
        return SchemaState(OK, revision, head)
    if revision is None:
        return SchemaState(MISSING, None, head)
    return SchemaState(BEHIND if revision in _known_revisions() else AHEAD, revision, head)


def current_revision(sync_connection: Any) -> str | None:
    """The revision recorded in the database (`alembic_version`), through Alembic's MigrationContext,
    on a synchronous SQLAlchemy connection (or ORM session's connection): one catalogue look-up for
    the table and one one-row SELECT."""
    return MigrationContext.configure(sync_connection).get_current_revision()


async def schema_state(connection: AsyncConnection) -> SchemaState:
    return state_of(await connection.run_sync(current_revision))
