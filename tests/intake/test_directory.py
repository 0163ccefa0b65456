"""The in-memory copies of callers and landlords: every change made here shows at once,
one made elsewhere within the time-to-live."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from putright.intake import admin_cli
from putright.intake.directory import Directory, Expiring
from tests.intake.conftest import ADMIN_TOKEN, Intake, complaint_body

pytestmark = pytest.mark.connected

ADMIN = {"X-Admin-Token": ADMIN_TOKEN}


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _post(intake: Intake, headers: dict[str, str]) -> int:
    response = await intake.client.post("/v1/complaints", json=complaint_body(), headers=headers)
    return response.status_code


async def test_a_key_revoked_by_another_process_stops_working_within_the_ttl(
    intake: Intake,
) -> None:
    ticker = Ticker()
    kept = intake.app.state.directory
    intake.app.state.directory = Directory(kept.sessions, ttl_seconds=5, clock=ticker)
    try:
        landlord = await intake.organisation()
        key = await admin_cli.run(
            admin_cli.parser().parse_args(
                ["create-key", "--organisation", landlord.id, "--name", "ops", "--scopes", "submit"]
            ),
            intake.settings,
        )
        headers = {"Authorization": f"Bearer {key['token']}"}
        assert await _post(intake, headers) == 201
        # The admin command line is another process: this one learns of it by expiry.
        await admin_cli.run(
            admin_cli.parser().parse_args(["revoke-key", key["id"]]), intake.settings
        )
        assert await _post(intake, headers) == 201
        ticker.now += 5.1
        assert await _post(intake, headers) == 401
    finally:
        intake.app.state.directory = kept


async def test_a_key_revoked_through_the_api_stops_working_at_once(intake: Intake) -> None:
    landlord = await intake.organisation(scopes=("admin",))
    issued = await intake.client.post(
        "/v1/api-keys", json={"name": "site", "scopes": ["submit"]}, headers=landlord.headers
    )
    website = {"Authorization": f"Bearer {issued.json()['token']}"}
    assert await _post(intake, website) == 201
    revoked = await intake.client.delete(f"/v1/admin/api-keys/{issued.json()['id']}", headers=ADMIN)
    assert revoked.status_code == 200
    assert await _post(intake, website) == 401


async def test_a_profile_update_moves_the_next_due_date_at_once(intake: Intake) -> None:
    intake.clock.set(datetime(2026, 3, 2, 10, tzinfo=UTC))  # a Monday
    landlord = await intake.organisation(name="Closure Homes")
    first = await intake.submit(landlord)
    updated = await intake.client.put(
        f"/v1/admin/organisations/{landlord.id}",
        json={"name": "Closure Homes", "kind": "landlord", "closure_days": ["2026-03-04"]},
        headers=ADMIN,
    )
    assert updated.status_code == 200, updated.text
    second = await intake.submit(landlord)

    async def due(accepted: dict[str, str]) -> str:
        record = await intake.client.get(
            f"/v1/complaints/{accepted['id']}", headers=landlord.headers
        )
        return str(record.json()["due_dates"]["stage1_acknowledgement"])

    assert await due(first) == "2026-03-09"
    assert await due(second) == "2026-03-10"


async def test_a_new_stage1_contract_applies_to_the_next_complaint(intake: Intake) -> None:
    landlord = await intake.organisation()
    contractor = await intake.organisation("contractor")
    before = await intake.submit(landlord)
    await intake.contract(landlord, contractor, handles_stage1=True)
    after = await intake.submit(landlord)
    assert before["handling_organisation_id"] == landlord.id
    assert after["handling_organisation_id"] == contractor.id


async def test_a_lookup_that_races_a_change_is_not_kept() -> None:
    copies: Expiring[str, str] = Expiring(5, Ticker())
    reads = 0

    async def read() -> str:
        nonlocal reads
        reads += 1
        # A change commits while this lookup is still reading the old value.
        copies.forget(lambda _, __: True)
        return "old"

    assert await copies.get("x", read) == "old"
    assert await copies.get("x", read) == "old"
    assert reads == 2


async def test_copies_expire() -> None:
    ticker = Ticker()
    copies: Expiring[str, int] = Expiring(5, ticker)
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        return reads

    assert await copies.get("x", read) == 1
    assert await copies.get("x", read) == 1
    ticker.now += 5.1
    assert await copies.get("x", read) == 2
