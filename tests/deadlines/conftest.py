"""Each deadlines test gets its own schema, so one test's timers never fire in another."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from putright.shared.migrations import upgrade


@pytest.fixture
async def deadlines_env(service_env: dict[str, Any], database_url: str) -> dict[str, Any]:
    """Service settings with a freshly migrated schema (and consumer group) of this test's own."""
    instance = f"deadlines_{uuid.uuid4().hex[:10]}"
    await upgrade("putright.deadlines", url=database_url, schema=instance)
    return {**service_env, "instance": instance}
