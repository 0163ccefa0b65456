"""Every endpoint × (the landlord, its contractor, another landlord), and the full record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.intake.conftest import ADMIN_TOKEN, Intake, Organisation
from tests.intake.test_lifecycle import acknowledgement, response

pytestmark = pytest.mark.connected


@dataclass
class World:
    """A landlord, its contractor (handling repairs at stage 1) and a stranger landlord."""

    landlord: Organisation
    contractor: Organisation
    other: Organisation
    repairs: str  # routed to the contractor
    rent: str  # the landlord's own


@pytest.fixture(scope="module")
async def world(intake: Intake) -> World:
    landlord = await intake.organisation()
    contractor = await intake.organisation("contractor")
    other = await intake.organisation()
    await intake.contract(landlord, contractor, ("repairs",))
    repairs = await intake.submit(landlord, category="repairs")
    rent = await intake.submit(landlord, category="rent-and-charges")
    return World(landlord, contractor, other, repairs["id"], rent["id"])


# Each endpoint that takes a complaint id, with a body valid enough to pass validation.
COMPLAINT_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("POST", "stage1/acknowledgement", acknowledgement("x")),
    (
        "POST",
        "refusal",
        {
            "decided_by": {"staff_id": "x", "name": "X"},
            "reason": "legal_proceedings",
            "explanation": "A claim was filed.",
        },
    ),
    ("POST", "extensions", {"stage": 1, "extension_working_days": 1, "reason": "Busy."}),
    ("POST", "related-issues", {"description": "More.", "related": True}),
    ("POST", "stage1/response", response("x")),
    ("POST", "escalation", {}),
    (
        "POST",
        "escalation/refusal",
        {
            "decided_by": {"staff_id": "x", "name": "X"},
            "reason": "already_considered",
            "explanation": "Considered before.",
        },
    ),
    ("POST", "stage2/acknowledgement", acknowledgement("y")),
    ("POST", "stage2/response", response("y")),
    ("POST", "actions/00000000-0000-0000-0000-000000000001/completion", {}),
    ("POST", "remedies/00000000-0000-0000-0000-000000000001/completion", {}),
    ("POST", "learning", {"lesson": "Something."}),
    ("POST", "withdrawal", {}),
    ("POST", "closure", None),
]


@pytest.mark.parametrize(("method", "path", "body"), COMPLAINT_ENDPOINTS)
@pytest.mark.parametrize("who", ["landlord", "contractor", "other"])
@pytest.mark.parametrize("complaint", ["repairs", "rent"])
async def test_every_complaint_endpoint_is_scoped_to_the_caller(
    intake: Intake,
    world: World,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    who: str,
    complaint: str,
) -> None:
    caller: Organisation = getattr(world, who)
    complaint_id = getattr(world, complaint)
    url = f"/v1/complaints/{complaint_id}" + (f"/{path}" if path else "")
    answer = await intake.client.request(method, url, json=body, headers=caller.headers)
    visible = who == "landlord" or (who == "contractor" and complaint == "repairs")
    if visible:
        # Whatever the lifecycle says, it is never "not found" for someone in scope.
        assert answer.status_code != 404 or "complaint not found" not in answer.text, answer.text
    else:
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"detail": "complaint not found"}


@pytest.mark.parametrize("who", ["landlord", "contractor", "other"])
async def test_lists_show_only_what_the_caller_may_see(
    intake: Intake, world: World, who: str
) -> None:
    caller: Organisation = getattr(world, who)
    listed = await intake.client.get("/v1/complaints?page_size=200", headers=caller.headers)
    assert listed.status_code == 200
    ids = {item["id"] for item in listed.json()["items"]}
    expected = {
        "landlord": {world.repairs, world.rent},
        "contractor": {world.repairs},
        "other": set(),
    }[who]
    assert expected <= ids
    assert not ({world.repairs, world.rent} - expected) & ids


@pytest.mark.parametrize("who", ["landlord", "contractor", "other"])
async def test_submitting_for_a_landlord_needs_a_contract(
    intake: Intake, world: World, who: str
) -> None:
    caller: Organisation = getattr(world, who)
    body = {
        "organisation_id": world.landlord.id,
        "description": "The boiler is broken.",
        "category": "repairs",
        "resident": {"name": "Pat"},
    }
    answer = await intake.client.post("/v1/complaints", json=body, headers=caller.headers)
    assert answer.status_code == {"landlord": 201, "contractor": 201, "other": 404}[who]
    uncovered = await intake.client.post(
        "/v1/complaints", json={**body, "category": "rent-and-charges"}, headers=caller.headers
    )
    assert uncovered.status_code == {"landlord": 201, "contractor": 404, "other": 404}[who]


@pytest.mark.parametrize("who", ["landlord", "contractor", "other"])
async def test_keys_and_profiles_are_the_callers_own(
    intake: Intake, world: World, who: str
) -> None:
    caller: Organisation = getattr(world, who)
    me = await intake.client.get("/v1/organisation", headers=caller.headers)
    assert me.json()["id"] == caller.id
    keys = await intake.client.get("/v1/api-keys", headers=caller.headers)
    assert {key["organisation_id"] for key in keys.json()} == {caller.id}
    spare = await intake.client.post(
        f"/v1/admin/organisations/{world.landlord.id}/api-keys",
        json={"name": "spare", "scopes": ["report"]},
        headers={"X-Admin-Token": ADMIN_TOKEN},
    )
    revoked = await intake.client.delete(
        f"/v1/api-keys/{spare.json()['id']}", headers=caller.headers
    )
    if who != "landlord":
        assert revoked.status_code == 404
    else:
        assert revoked.status_code == 200


async def test_the_full_record_holds_everything_intake_knows(intake: Intake) -> None:
    landlord = await intake.organisation()
    submitted = await intake.submit(landlord, channel="letter")
    complaint = submitted["id"]
    await intake.command(landlord, complaint, "stage1/acknowledgement", acknowledgement())
    record = await intake.client.get(f"/v1/complaints/{complaint}", headers=landlord.headers)
    assert record.status_code == 200
    body = record.json()
    assert body["reference"] == submitted["reference"]
    assert body["status"] == "stage1_acknowledged"
    assert body["channel"] == "letter"
    assert body["submission"]["description"].startswith("The kitchen ceiling")
    assert body["submission"]["resident"]["reasonable_adjustments"] == ["large print letters"]
    assert body["disclosed_disabilities"] == ["partially sighted"]
    assert [event["type"] for event in body["events"]] == [
        "uk.putright.complaint.received.v1",
        "uk.putright.complaint.stage1.acknowledged.v1",
    ]
    assert [event["sequence"] for event in body["events"]] == [1, 2]
    assert set(body["due_dates"]) == {"stage1_acknowledgement", "stage1_response"}
    # Disclosed disabilities stay in intake: they are not in the published event (5.10).
    [received, _] = await intake.events_about(complaint, 2)
    assert "partially sighted" not in received.model_dump_json()


async def test_lists_filter_and_page(intake: Intake) -> None:
    landlord = await intake.organisation()
    for channel in ("phone", "phone", "phone", "in_person"):
        await intake.submit(landlord, channel=channel)
    headers = landlord.headers
    first = (
        await intake.client.get("/v1/complaints?channel=phone&page_size=2", headers=headers)
    ).json()
    second = (
        await intake.client.get("/v1/complaints?channel=phone&page_size=2&page=2", headers=headers)
    ).json()
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    in_person = (
        await intake.client.get("/v1/complaints?channel=in_person", headers=headers)
    ).json()
    assert in_person["total"] == 1
    bad = await intake.client.get("/v1/complaints?page_size=0", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "page_size"]
