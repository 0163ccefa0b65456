"""Organisations, contracts and API keys: the admin path, hashing, scopes and revocation."""

from __future__ import annotations

import hashlib

import pytest
from sqlmodel import select

from putright.intake import admin_cli
from putright.intake.models import ApiKey
from putright.shared.events import ContractAgreed, OrganisationProfile
from tests.intake.conftest import ADMIN_TOKEN, Intake

pytestmark = pytest.mark.connected

ADMIN = {"X-Admin-Token": ADMIN_TOKEN}


async def test_admin_registers_a_landlord_and_its_profile_is_published(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/admin/organisations",
        json={
            "name": "Stoke-on-Trent City Council",
            "kind": "landlord",
            "homes": 17_900,
            "closure_days": ["2026-12-29"],
            "complaints_email": "Complaints@Stoke.example.gov.uk",
            "branding": {"primary_colour": "#00529b"},
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["slug"] == "stoke-on-trent-city-council"
    assert created["webhook_secret"] is None
    [event] = await intake.events_about(created["id"], 1)
    assert isinstance(event.data, OrganisationProfile)
    assert event.data.homes == 17_900
    assert str(event.organisation_id) == created["id"]

    updated = await intake.client.put(
        f"/v1/admin/organisations/{created['id']}",
        json={"name": "Stoke-on-Trent City Council", "kind": "landlord", "homes": 18_000},
        headers=ADMIN,
    )
    assert updated.status_code == 200, updated.text
    events = await intake.events_about(created["id"], 2)
    assert isinstance(events[1].data, OrganisationProfile)
    assert events[1].data.homes == 18_000


async def test_a_contract_is_published_for_other_services(intake: Intake) -> None:
    landlord = await intake.organisation()
    contractor = await intake.organisation("contractor")
    assert contractor.webhook_secret
    agreed = await intake.contract(landlord, contractor, ("Repairs", "gas servicing"))
    events = await intake.events_about(landlord.id, 2)
    contract = events[1].data
    assert isinstance(contract, ContractAgreed)
    assert contract.contract_id.hex == agreed["contract_id"].replace("-", "")
    assert contract.categories == ["gas servicing", "repairs"]
    assert contract.contractor_handles_stage1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"X-Admin-Token": "wrong"}, 401), (ADMIN, 201)],
)
async def test_only_the_platform_admin_creates_organisations(
    intake: Intake, headers: dict[str, str], status: int
) -> None:
    response = await intake.client.post(
        "/v1/admin/organisations", json={"name": "A council", "kind": "landlord"}, headers=headers
    )
    assert response.status_code == status


async def test_a_contract_needs_a_landlord_and_a_contractor(intake: Intake) -> None:
    landlord = await intake.organisation()
    other = await intake.organisation()
    response = await intake.client.post(
        "/v1/admin/contracts",
        json={
            "landlord_id": landlord.id,
            "contractor_id": other.id,
            "categories": ["repairs"],
            "contractor_handles_stage1": True,
        },
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "contractor_id"]


async def test_keys_are_stored_hashed_shown_once_scoped_and_revocable(intake: Intake) -> None:
    landlord = await intake.organisation(scopes=("admin",))
    issued = await intake.client.post(
        "/v1/api-keys", json={"name": "website", "scopes": ["submit"]}, headers=landlord.headers
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    async with intake.app.state.runtime.sessions() as session:
        stored = (await session.exec(select(ApiKey).where(ApiKey.id == issued.json()["id"]))).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.model_dump_json()

    listed = await intake.client.get("/v1/api-keys", headers=landlord.headers)
    assert all("token" not in key for key in listed.json())

    website = {"Authorization": f"Bearer {token}"}
    assert (await intake.client.get("/v1/complaints", headers=website)).status_code == 403
    submitted = await intake.client.post(
        "/v1/complaints",
        json={"description": "x", "category": "repairs", "resident": {"name": "A"}},
        headers=website,
    )
    assert submitted.status_code == 201, submitted.text

    revoked = await intake.client.delete(
        f"/v1/api-keys/{issued.json()['id']}", headers=landlord.headers
    )
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    again = await intake.client.post(
        "/v1/complaints",
        json={"description": "x", "category": "repairs", "resident": {"name": "A"}},
        headers=website,
    )
    assert again.status_code == 401
    garbage = await intake.client.get("/v1/complaints", headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401


async def test_an_organisation_name_that_could_forge_a_header_is_refused(intake: Intake) -> None:
    response = await intake.client.post(
        "/v1/admin/organisations",
        json={"name": "Council\r\nBcc: everyone@example.org", "kind": "landlord"},
        headers=ADMIN,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


async def test_the_admin_command_line_registers_an_organisation_and_issues_a_key(
    intake: Intake,
) -> None:
    settings = intake.settings
    created = await admin_cli.run(
        admin_cli.parser().parse_args(
            ["create-organisation", "--name", "Thurrock Council", "--kind", "landlord"]
        ),
        settings,
    )
    key = await admin_cli.run(
        admin_cli.parser().parse_args(
            ["create-key", "--organisation", created["id"], "--name", "ops", "--scopes", "report"]
        ),
        settings,
    )
    me = await intake.client.get(
        "/v1/organisation", headers={"Authorization": f"Bearer {key['token']}"}
    )
    assert me.json()["profile"]["name"] == "Thurrock Council"
    # The profile snapshot left through the outbox, published by the running service.
    [event] = await intake.events_about(created["id"], 1)
    assert isinstance(event.data, OrganisationProfile)
    revoked = await admin_cli.run(
        admin_cli.parser().parse_args(["revoke-key", key["id"]]), settings
    )
    assert revoked["revoked_at"]
