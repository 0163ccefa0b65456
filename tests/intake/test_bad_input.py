"""Idempotent retries, size limits and header-injection: clear 4xx, nothing done twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import select

from putright.intake.models import Complaint
from tests.intake.conftest import Intake, Organisation, complaint_body
from tests.intake.test_lifecycle import acknowledgement

pytestmark = pytest.mark.connected


@pytest.fixture(scope="module")
async def landlord(intake: Intake) -> Organisation:
    return await intake.organisation()


async def _complaints_of(intake: Intake, landlord: Organisation) -> int:
    async with intake.app.state.runtime.sessions() as session:
        count = (
            await session.exec(
                select(func.count())
                .select_from(Complaint)
                .where(Complaint.organisation_id == landlord.id)
            )
        ).one()
    return int(count)


async def test_a_retried_submission_returns_the_original_and_creates_nothing(
    intake: Intake, landlord: Organisation
) -> None:
    before = await _complaints_of(intake, landlord)
    headers = {**landlord.headers, "Idempotency-Key": "submit-1"}
    first = await intake.client.post("/v1/complaints", json=complaint_body(), headers=headers)
    retry = await intake.client.post("/v1/complaints", json=complaint_body(), headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await _complaints_of(intake, landlord) == before + 1

    different = await intake.client.post(
        "/v1/complaints", json=complaint_body(description="Another thing."), headers=headers
    )
    assert different.status_code == 422
    assert different.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await _complaints_of(intake, landlord) == before + 1


async def test_a_retried_command_emits_one_event(intake: Intake, landlord: Organisation) -> None:
    complaint = (await intake.submit(landlord))["id"]
    headers = {**landlord.headers, "Idempotency-Key": f"ack-{complaint}"}
    url = f"/v1/complaints/{complaint}/stage1/acknowledgement"
    first = await intake.client.post(url, json=acknowledgement(), headers=headers)
    retry = await intake.client.post(url, json=acknowledgement(), headers=headers)
    assert first.status_code == retry.status_code == 200
    assert retry.json()["event_id"] == first.json()["event_id"]
    await intake.events_about(complaint, 2)
    assert len(intake.published.about(complaint)) == 2


async def test_keys_belong_to_their_caller(intake: Intake, landlord: Organisation) -> None:
    other = await intake.organisation()
    for caller in (landlord, other):
        answer = await intake.client.post(
            "/v1/complaints",
            json=complaint_body(),
            headers={**caller.headers, "Idempotency-Key": "shared-key"},
        )
        assert answer.status_code == 201
        assert "idempotent-replayed" not in answer.headers


async def test_an_oversized_request_is_refused(intake: Intake, landlord: Organisation) -> None:
    huge = complaint_body(description="x" * 300_000)
    answer = await intake.client.post("/v1/complaints", json=huge, headers=landlord.headers)
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("resident", "field"),
    [
        ({"name": "Sam\r\nBcc: all@example.org"}, "name"),
        ({"name": "Sam", "email": "sam@example.org\r\nBcc: x@example.org"}, "email"),
        ({"name": ""}, "name"),
    ],
)
async def test_anything_that_reaches_an_email_header_refuses_line_breaks(
    intake: Intake, landlord: Organisation, resident: dict[str, str], field: str
) -> None:
    answer = await intake.client.post(
        "/v1/complaints", json=complaint_body(resident=resident), headers=landlord.headers
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "resident", field]


async def test_malformed_json_names_the_body(intake: Intake, landlord: Organisation) -> None:
    answer = await intake.client.post(
        "/v1/complaints",
        content=b"{not json",
        headers={**landlord.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][0] == "body"


async def test_a_representative_needs_the_residents_consent(
    intake: Intake, landlord: Organisation
) -> None:
    councillor = {"name": "Cllr Dee", "relationship": "councillor"}
    refused = await intake.client.post(
        "/v1/complaints",
        json=complaint_body(channel="representative", representative=councillor),
        headers=landlord.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["rule"] == "3.6"
    consented = {**councillor, "consent_recorded_on": "2026-11-01"}
    accepted = await intake.submit(landlord, channel="representative", representative=consented)
    [event] = await intake.events_about(accepted["id"], 1)
    assert event.data.model_dump()["representative"]["name"] == "Cllr Dee"
