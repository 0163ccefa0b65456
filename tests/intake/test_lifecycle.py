"""Every lifecycle rule, allowed and refused, with the Code paragraph in each refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from putright.shared.calendar import WorkingCalendar
from putright.shared.events import (
    ComplaintClosed,
    ComplaintReceived,
    ExtensionNotified,
    RelatedIssueAdded,
    Stage1Acknowledged,
    Stage2Acknowledged,
)
from tests.intake.conftest import Intake, Organisation

pytestmark = pytest.mark.connected

CHRISTMAS_CLOSURE = ["2026-12-29", "2026-12-30", "2026-12-31"]


def acknowledgement(staff_id: str = "officer-1", **definition: Any) -> dict[str, Any]:
    return {
        "handler": {"staff_id": staff_id, "name": f"Officer {staff_id}"},
        "definition": {
            "summary": "Roof leak into the kitchen not fixed after a repair.",
            "outcomes_sought": "A lasting repair and redecoration.",
            "not_responsible_for": [
                {"aspect": "Contents insurance", "explanation": "The resident's own insurer."}
            ],
        }
        | definition,
    }


def response(staff_id: str = "officer-1", **overrides: Any) -> dict[str, Any]:
    return {
        "handler": {"staff_id": staff_id, "name": f"Officer {staff_id}"},
        "complaint_definition": "Roof leak into the kitchen not fixed after a repair.",
        "decision": "upheld",
        "reasons": "The first repair did not seal the flashing.",
        "remedies": [
            {"kind": "apology", "description": "A written apology.", "due_on": "2027-02-01"},
            {
                "kind": "financial",
                "description": "£150 for the inconvenience.",
                "due_on": "2027-02-12",
                "compensation_gbp": "150.00",
            },
        ],
        "outstanding_actions": [
            {"description": "Replace the flashing.", "due_on": "2027-02-20"},
        ],
        "how_to_escalate": "Reply to this letter or call us to ask for stage 2.",
    } | overrides


@pytest.fixture(scope="module")
async def landlord(intake: Intake) -> Organisation:
    return await intake.organisation(closure_days=CHRISTMAS_CLOSURE)


async def received(intake: Intake, landlord: Organisation, **overrides: Any) -> str:
    return str((await intake.submit(landlord, **overrides))["id"])


async def acknowledged(intake: Intake, landlord: Organisation, **overrides: Any) -> str:
    complaint = await received(intake, landlord, **overrides)
    done = await intake.command(landlord, complaint, "stage1/acknowledgement", acknowledgement())
    assert done.status_code == 200, done.text
    return complaint


async def responded(intake: Intake, landlord: Organisation, **overrides: Any) -> str:
    complaint = await acknowledged(intake, landlord, **overrides)
    done = await intake.command(landlord, complaint, "stage1/response", response())
    assert done.status_code == 200, done.text
    return complaint


async def escalated(intake: Intake, landlord: Organisation) -> str:
    complaint = await responded(intake, landlord)
    done = await intake.command(landlord, complaint, "escalation", {"channel": "phone"})
    assert done.status_code == 200, done.text
    return complaint


def refusal(response: Any, status: int, rule: str) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    detail: list[dict[str, Any]] = response.json()["detail"]
    assert rule in [item.get("rule") for item in detail], detail
    return detail


async def test_a_complaint_goes_through_both_stages_to_closure(
    intake: Intake, landlord: Organisation
) -> None:
    intake.clock.set(datetime(2026, 12, 24, 10, 0, tzinfo=UTC))
    complaint = await received(intake, landlord)
    acknowledged_ = await intake.command(
        landlord, complaint, "stage1/acknowledgement", acknowledgement()
    )
    assert acknowledged_.status_code == 200, acknowledged_.text
    # Christmas Day, the Boxing Day substitute, three closure days and New Year's Day
    # do not count: the tenth working day after 24 December is 15 January.
    assert acknowledged_.json()["due_on"] == "2027-01-15"
    calendar = WorkingCalendar(closures=[date.fromisoformat(d) for d in CHRISTMAS_CLOSURE])
    assert calendar.add(date(2026, 12, 24), 10) == date(2027, 1, 15)

    extended = await intake.command(
        landlord,
        complaint,
        "extensions",
        {"stage": 1, "extension_working_days": 5, "reason": "Awaiting a roofer's survey."},
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["due_on"] == "2027-01-22"

    intake.clock.advance(timedelta(days=20))
    first = await intake.command(landlord, complaint, "stage1/response", response())
    assert first.status_code == 200, first.text
    escalation = await intake.command(landlord, complaint, "escalation", {"channel": "email"})
    assert escalation.status_code == 200, escalation.text
    second_ack = await intake.command(
        landlord, complaint, "stage2/acknowledgement", acknowledgement("manager-9")
    )
    assert second_ack.status_code == 200, second_ack.text
    final = await intake.command(
        landlord,
        complaint,
        "stage2/response",
        response(
            "manager-9",
            remedies=[],
            no_remedy_reason="Stage 1 remedies stand.",
            outstanding_actions=[],
        ),
    )
    assert final.status_code == 200, final.text

    record = (
        await intake.client.get(f"/v1/complaints/{complaint}", headers=landlord.headers)
    ).json()
    assert record["status"] == "stage2_responded"
    assert record["stage"] == 2
    assert record["due_dates"]["stage1_response"] == "2027-01-22"
    for action in record["outstanding_actions"]:
        done = await intake.command(
            landlord, complaint, f"actions/{action['action_id']}/completion", {"note": "Done."}
        )
        assert done.status_code == 200, done.text
    unfinished = await intake.command(landlord, complaint, "closure")
    refusal(unfinished, 409, "7.3")
    for remedy in record["remedies"]:
        done = await intake.command(
            landlord, complaint, f"remedies/{remedy['remedy_id']}/completion"
        )
        assert done.status_code == 200, done.text
    learned = await intake.command(
        landlord,
        complaint,
        "learning",
        {"lesson": "Check flashing on every roof repair.", "service_improvement": "New checklist."},
    )
    assert learned.status_code == 200, learned.text
    closed = await intake.command(landlord, complaint, "closure")
    assert closed.status_code == 200, closed.text

    events = await intake.events_about(complaint, 12)
    assert [event.type.removeprefix("uk.putright.complaint.") for event in events] == [
        "received.v1",
        "stage1.acknowledged.v1",
        "extension.notified.v1",
        "stage1.responded.v1",
        "escalation.requested.v1",
        "stage2.acknowledged.v1",
        "stage2.responded.v1",
        "outstanding_action.completed.v1",
        "remedy.completed.v1",
        "remedy.completed.v1",
        "learning.recorded.v1",
        "closed.v1",
    ]
    assert all(str(event.organisation_id) == landlord.id for event in events)
    assert {event.correlation_id for event in events} == {events[0].id}
    ack = events[1].data
    assert isinstance(ack, Stage1Acknowledged)
    assert ack.response_due_on == date(2027, 1, 15)
    extension = events[2].data
    assert isinstance(extension, ExtensionNotified)
    assert (extension.previous_due_on, extension.new_due_on) == (
        date(2027, 1, 15),
        date(2027, 1, 22),
    )
    stage2 = events[5].data
    assert isinstance(stage2, Stage2Acknowledged)
    assert stage2.response_due_on == calendar.add(date(2027, 1, 13), 20)
    closed_event = events[-1].data
    assert isinstance(closed_event, ComplaintClosed)
    assert closed_event.final_stage == 2


async def test_the_acknowledgement_clock_counts_from_the_uk_date(
    intake: Intake, landlord: Organisation
) -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London.
    complaint = await received(
        intake, landlord, channel="phone", received_at="2026-06-30T23:30:00Z"
    )
    record = (
        await intake.client.get(f"/v1/complaints/{complaint}", headers=landlord.headers)
    ).json()
    assert record["due_dates"]["stage1_acknowledgement"] == "2026-07-08"
    [event] = await intake.events_about(complaint, 1)
    assert isinstance(event.data, ComplaintReceived)
    assert event.data.channel == "phone"
    assert event.data.received_at == datetime(2026, 6, 30, 23, 30, tzinfo=UTC)


async def test_a_complaint_cannot_arrive_in_the_future(
    intake: Intake, landlord: Organisation
) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await intake.client.post(
        "/v1/complaints",
        json={
            "description": "x",
            "category": "repairs",
            "resident": {"name": "A"},
            "received_at": tomorrow,
        },
        headers=landlord.headers,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "received_at"]


async def test_steps_out_of_order_are_refused_with_409(
    intake: Intake, landlord: Organisation
) -> None:
    complaint = await received(intake, landlord)
    refusal(await intake.command(landlord, complaint, "stage1/response", response()), 409, "6.2")
    refusal(await intake.command(landlord, complaint, "escalation"), 409, "6.10")
    refusal(
        await intake.command(landlord, complaint, "stage2/acknowledgement", acknowledgement("m")),
        409,
        "6.11",
    )
    refusal(
        await intake.command(
            landlord,
            complaint,
            "extensions",
            {"stage": 1, "extension_working_days": 2, "reason": "Busy."},
        ),
        409,
        "6.4",
    )
    refusal(await intake.command(landlord, complaint, "closure"), 409, "6.6")
    ack = await intake.command(landlord, complaint, "stage1/acknowledgement", acknowledgement())
    assert ack.status_code == 200
    refusal(
        await intake.command(landlord, complaint, "stage1/acknowledgement", acknowledgement()),
        409,
        "6.2",
    )


async def test_a_definition_needs_the_outcomes_sought(
    intake: Intake, landlord: Organisation
) -> None:
    complaint = await received(intake, landlord)
    refused = await intake.command(
        landlord, complaint, "stage1/acknowledgement", acknowledgement(outcomes_sought="")
    )
    detail = refusal(refused, 422, "5.6")
    assert detail[0]["loc"][-1] == "outcomes_sought"


async def test_the_stage_2_handler_must_not_be_the_stage_1_handler(
    intake: Intake, landlord: Organisation
) -> None:
    complaint = await escalated(intake, landlord)
    same = await intake.command(
        landlord, complaint, "stage2/acknowledgement", acknowledgement("officer-1")
    )
    detail = refusal(same, 422, "6.13")
    assert detail[0]["loc"] == ["body", "handler", "staff_id"]
    other = await intake.command(
        landlord, complaint, "stage2/acknowledgement", acknowledgement("manager-2")
    )
    assert other.status_code == 200, other.text
    refusal(
        await intake.command(landlord, complaint, "stage2/response", response("officer-1")),
        422,
        "6.13",
    )


@pytest.mark.parametrize(("stage", "limit", "rule"), [(1, 10, "6.4"), (2, 20, "6.15")])
async def test_an_extension_beyond_the_limit_needs_a_good_reason(
    intake: Intake, landlord: Organisation, stage: int, limit: int, rule: str
) -> None:
    complaint = await acknowledged(intake, landlord)
    if stage == 2:
        await intake.command(landlord, complaint, "stage1/response", response())
        await intake.command(landlord, complaint, "escalation")
        ack = await intake.command(
            landlord, complaint, "stage2/acknowledgement", acknowledgement("manager-3")
        )
        assert ack.status_code == 200, ack.text
    extension = {"stage": stage, "extension_working_days": limit, "reason": "Survey needed."}
    within = await intake.command(landlord, complaint, "extensions", extension)
    assert within.status_code == 200, within.text
    beyond = {**extension, "extension_working_days": 1}
    refusal(await intake.command(landlord, complaint, "extensions", beyond), 422, rule)
    with_reason = {**beyond, "good_reason_beyond_limit": "The specialist is booked until March."}
    allowed = await intake.command(landlord, complaint, "extensions", with_reason)
    assert allowed.status_code == 200, allowed.text
    assert date.fromisoformat(allowed.json()["due_on"]) > date.fromisoformat(
        within.json()["due_on"]
    )


@pytest.mark.parametrize(
    ("missing", "item"),
    [
        ("complaint_definition", "complaint_definition"),
        ("decision", "decision"),
        ("reasons", "reasons"),
        ("how_to_escalate", "how_to_escalate"),
        ("remedies", "no_remedy_reason"),
    ],
)
async def test_a_stage_1_response_missing_an_item_is_refused(
    intake: Intake, landlord: Organisation, missing: str, item: str
) -> None:
    complaint = await acknowledged(intake, landlord)
    body = response()
    body.pop(missing)
    detail = refusal(await intake.command(landlord, complaint, "stage1/response", body), 422, "6.9")
    assert ["body", item] in [entry["loc"] for entry in detail]


async def test_a_stage_2_response_names_6_19_and_a_remedy_needs_a_date(
    intake: Intake, landlord: Organisation
) -> None:
    complaint = await escalated(intake, landlord)
    ack = await intake.command(landlord, complaint, "stage2/acknowledgement", acknowledgement("m4"))
    assert ack.status_code == 200
    refusal(
        await intake.command(landlord, complaint, "stage2/response", response("m4", reasons="  ")),
        422,
        "6.19",
    )
    undated = response("m4", remedies=[{"kind": "apology", "description": "Sorry."}])
    detail = refusal(
        await intake.command(landlord, complaint, "stage2/response", undated), 422, "7.3"
    )
    assert detail[0]["loc"] == ["body", "remedies", 0, "due_on"]


async def test_there_is_no_third_stage(intake: Intake, landlord: Organisation) -> None:
    complaint = await escalated(intake, landlord)
    refusal(await intake.command(landlord, complaint, "escalation"), 409, "5.3")
    refused = await intake.command(
        landlord,
        complaint,
        "escalation/refusal",
        {
            "decided_by": {"staff_id": "m5", "name": "Manager"},
            "reason": "legal_proceedings",
            "explanation": "A claim about the same leak is before the county court.",
        },
    )
    assert refused.status_code == 200, refused.text
    refusal(await intake.command(landlord, complaint, "escalation"), 409, "5.3")


async def test_an_old_issue_is_a_warning_and_a_recorded_decision(
    intake: Intake, landlord: Organisation
) -> None:
    old = (datetime.now(UTC).date() - timedelta(days=500)).isoformat()
    submitted = await intake.submit(landlord, issue_noticed_on=old)
    assert [w["rule"] for w in submitted["warnings"]] == ["2.3"]
    ack = await intake.command(
        landlord, submitted["id"], "stage1/acknowledgement", acknowledgement()
    )
    assert ack.status_code == 200
    assert [w["rule"] for w in ack.json()["warnings"]] == ["2.3"]
    events = await intake.events_about(submitted["id"], 2)
    assert isinstance(events[0].data, ComplaintReceived)
    assert events[0].data.issue_older_than_twelve_months
    assert isinstance(events[1].data, Stage1Acknowledged)
    assert events[1].data.discretion_note


async def test_a_refusal_needs_a_section_2_reason_that_applies(
    intake: Intake, landlord: Organisation
) -> None:
    recent = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    complaint = await received(intake, landlord, issue_noticed_on=recent)
    body = {
        "decided_by": {"staff_id": "o1", "name": "Officer"},
        "reason": "issue_over_twelve_months",
        "explanation": "Too old.",
    }
    refusal(await intake.command(landlord, complaint, "refusal", body), 422, "2.2")
    refusal(
        await intake.command(landlord, complaint, "refusal", {**body, "explanation": ""}),
        422,
        "2.4",
    )
    legal = {**body, "reason": "legal_proceedings", "explanation": "A claim was filed in May."}
    assert (await intake.command(landlord, complaint, "refusal", legal)).status_code == 200
    refusal(await intake.command(landlord, complaint, "refusal", legal), 409, "2.2")


async def test_a_further_issue_joins_stage_1_or_becomes_a_new_complaint(
    intake: Intake, landlord: Organisation
) -> None:
    complaint = await acknowledged(intake, landlord)
    joined = await intake.command(
        landlord, complaint, "related-issues", {"description": "Also the gutter.", "related": True}
    )
    assert joined.status_code == 200, joined.text
    assert joined.json()["new_complaint"] is None
    unrelated = await intake.command(
        landlord,
        complaint,
        "related-issues",
        {
            "description": "A neighbour's noise.",
            "related": False,
            "category": "anti-social-behaviour",
        },
    )
    new = unrelated.json()["new_complaint"]
    assert new["reference"].startswith("C-")
    await intake.command(landlord, complaint, "stage1/response", response())
    late = await intake.command(
        landlord, complaint, "related-issues", {"description": "The gutter again.", "related": True}
    )
    assert late.json()["new_complaint"]
    events = await intake.events_about(complaint, 6)
    added = [event.data for event in events if isinstance(event.data, RelatedIssueAdded)]
    assert [issue.joined_stage1 for issue in added] == [True, False, False]
    [new_event] = await intake.events_about(new["id"], 1)
    assert isinstance(new_event.data, ComplaintReceived)
    assert new_event.data.category == "anti-social-behaviour"


async def test_a_withdrawn_complaint_takes_no_more_steps(
    intake: Intake, landlord: Organisation
) -> None:
    complaint = await acknowledged(intake, landlord)
    withdrawn = await intake.command(landlord, complaint, "withdrawal", {"reason": "Sorted."})
    assert withdrawn.status_code == 200
    refusal(await intake.command(landlord, complaint, "withdrawal"), 409, "5.12")
    refusal(await intake.command(landlord, complaint, "stage1/response", response()), 409, "6.2")


async def test_a_contractor_handles_stage_1_but_stage_2_stays_with_the_landlord(
    intake: Intake, landlord: Organisation
) -> None:
    contractor = await intake.organisation("contractor")
    await intake.contract(landlord, contractor, ("roofing",))
    submitted = await intake.submit(landlord, category="Roofing")
    assert submitted["handling_organisation_id"] == contractor.id
    complaint = submitted["id"]
    for path, body in (
        ("stage1/acknowledgement", acknowledgement("unitas-1")),
        ("stage1/response", response("unitas-1")),
        ("escalation", {}),
    ):
        done = await intake.command(contractor, complaint, path, body)
        assert done.status_code == 200, done.text
    refusal(
        await intake.command(
            contractor, complaint, "stage2/acknowledgement", acknowledgement("u2")
        ),
        403,
        "5.5",
    )
    # The landlord's officer with the same staff id is a different person.
    done = await intake.command(
        landlord, complaint, "stage2/acknowledgement", acknowledgement("unitas-1")
    )
    assert done.status_code == 200, done.text
    event = (await intake.events_about(complaint, 1))[0]
    assert isinstance(event.data, ComplaintReceived)
    assert str(event.data.handling_organisation_id) == contractor.id
    assert str(event.organisation_id) == landlord.id
