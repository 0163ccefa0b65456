"""The fast path for ordinary submissions: anything unusual gets the documented route's answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.intake.conftest import Intake, complaint_body

pytestmark = pytest.mark.connected


async def test_an_ordinary_submission_is_stored_as_the_route_would(intake: Intake) -> None:
    landlord = await intake.organisation()
    accepted = await intake.submit(landlord, category=" Repairs ")
    assert set(accepted) == {"id", "reference", "handling_organisation_id", "warnings"}
    record = await intake.client.get(f"/v1/complaints/{accepted['id']}", headers=landlord.headers)
    body = record.json()
    assert body["category"] == "repairs"
    assert body["disclosed_disabilities"] == ["partially sighted"]
    assert "disclosed_disabilities" not in body["submission"]["resident"]
    [event] = await intake.events_about(accepted["id"], 1)
    assert event.data.reference == accepted["reference"]  # type: ignore[attr-defined]


async def test_unusual_requests_get_the_documented_answers(intake: Intake) -> None:
    landlord = await intake.organisation()
    reporter = await intake.organisation(scopes=("report",))
    post = intake.client.post
    text = {**landlord.headers, "Content-Type": "text/plain"}
    unknown = {"Authorization": "Bearer pr_nope"}
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    assert (await post("/v1/complaints", json=complaint_body())).status_code == 401
    assert (await post("/v1/complaints", json=complaint_body(), headers=unknown)).status_code == 401
    scoped = await post("/v1/complaints", json=complaint_body(), headers=reporter.headers)
    assert scoped.status_code == 403
    assert "submit" in scoped.json()["detail"]
    malformed = await post("/v1/complaints", content=b"{", headers=landlord.headers)
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"][0] == "body"
    plain = await post("/v1/complaints", content=b"hello", headers=text)
    assert plain.status_code == 422
    early = await post(
        "/v1/complaints", json=complaint_body(received_at=future), headers=landlord.headers
    )
    assert early.status_code == 422
    assert early.json()["detail"][0]["rule"] == "3.1"
    elsewhere = await post(
        "/v1/complaints",
        json=complaint_body(organisation_id=reporter.id),
        headers=landlord.headers,
    )
    assert elsewhere.status_code == 404


async def test_a_streamed_oversized_body_is_refused(intake: Intake) -> None:
    landlord = await intake.organisation()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 50_000

    answer = await intake.client.post(
        "/v1/complaints",
        content=chunks(),
        headers={**landlord.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
