"""The test databases are what production runs on: migrated to the code's head, nothing less."""

import pytest

from loyalty import migrate

pytestmark = pytest.mark.anyio


async def test_each_test_database_is_at_the_migration_head(database):
    async with database.engine.connect() as connection:
        state = await migrate.schema_state(connection)
    assert state.ok, state.advice()
