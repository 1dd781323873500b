"""Service-test fixtures: a tenant seeded through the services (tests.api.conftest.make_tenant) and a
Caller that runs each service call in its own unit of work, as that tenant's terminal."""

from __future__ import annotations

import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from tests.api.conftest import Tenant, make_tenant
from tests.services.helpers import Caller, caller_for


@pytest.fixture
async def tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """Hybrid programme: 3 stamps for the reward, cooldown 15 min, 5 a day, PIN "1234" required, 1 point/€."""
    return await make_tenant(database, settings, clock, slug="cafe-one")


@pytest.fixture
async def caller(database: Database, settings: Settings, clock: FixedClock, tenant: Tenant) -> Caller:
    return await caller_for(database, settings, clock, tenant)


@pytest.fixture
async def other_tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(database, settings, clock, slug="bakery-two", pin="9876", email="other@example.com")


@pytest.fixture
async def other_caller(database: Database, settings: Settings, clock: FixedClock, other_tenant: Tenant) -> Caller:
    return await caller_for(database, settings, clock, other_tenant)
