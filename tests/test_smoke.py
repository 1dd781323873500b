import pytest
from sqlalchemy import text

pytestmark = pytest.mark.anyio


async def test_schema_is_migrated(database):
    async with database.unit_of_work() as session:
        assert (await session.execute(text("SELECT count(*) FROM loyalty_cards"))).scalar_one() == 0
