"""Events published by the real intake service reach reporting's figures and pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from putright.intake.app import create_app as create_intake
from putright.intake.settings import IntakeSettings
from putright.reporting.app import create_app as create_reporting
from putright.reporting.settings import ReportingSettings
from tests.conftest import eventually
from tests.reporting.conftest import serving

pytestmark = [pytest.mark.connected]

ADMIN_TOKEN = "reporting-admin-token"
HANDLER = {"staff_id": "h1", "name": "Sam Officer"}


async def test_a_complaint_handled_in_intake_is_counted_and_timed(
    service_env: dict[str, Any],
) -> None:
    intake = create_intake(IntakeSettings(**service_env, admin_token=ADMIN_TOKEN))
    reporting = create_reporting(ReportingSettings(**service_env))
    async with serving(intake) as intake_api, serving(reporting) as reporting_api:
        admin = {"X-Admin-Token": ADMIN_TOKEN}
        created = await intake_api.post(
            "/v1/admin/organisations",
            json={"name": "Riverside Homes", "kind": "landlord", "homes": 2000},
            headers=admin,
        )
        assert created.status_code == 201, created.text
        landlord = created.json()["id"]
        key = await intake_api.post(
            f"/v1/admin/organisations/{landlord}/api-keys",
            json={"name": "team", "scopes": ["submit", "handle"]},
            headers=admin,
        )
        staff = {"Authorization": f"Bearer {key.json()['token']}"}
        posted = await intake_api.post(
            "/v1/complaints",
            json={
                "description": "Damp in the bedroom for months.",
                "category": "damp and mould",
                "resident": {"name": "Jo Resident", "email": "jo@example.org"},
            },
            headers=staff,
        )
        assert posted.status_code == 201, posted.text
        complaint = posted.json()["id"]
        definition = {"summary": "Damp in the bedroom.", "outcomes_sought": "A dry home."}
        acknowledged = await intake_api.post(
            f"/v1/complaints/{complaint}/stage1/acknowledgement",
            json={"handler": HANDLER, "definition": definition},
            headers=staff,
        )
        assert acknowledged.status_code < 300, acknowledged.text
        responded = await intake_api.post(
            f"/v1/complaints/{complaint}/stage1/response",
            json={
                "handler": HANDLER,
                "complaint_definition": "Damp in the bedroom.",
                "decision": "upheld",
                "reasons": "The extractor fan had failed.",
                "remedies": [
                    {
                        "kind": "financial",
                        "description": "For the inconvenience.",
                        "compensation_gbp": "75.00",
                        "due_on": (date.today() + timedelta(days=14)).isoformat(),
                    }
                ],
                "how_to_escalate": "Reply to this letter to ask for stage 2.",
            },
            headers=staff,
        )
        assert responded.status_code < 300, responded.text

        viewer = {"X-Putright-Organisation": landlord}

        async def figures() -> dict[str, Any] | None:
            answer = await reporting_api.get(f"/v1/organisations/{landlord}/tsm", headers=viewer)
            if answer.status_code != 200:
                return None  # the profile has not arrived yet
            row: dict[str, Any] = answer.json()["rows"][0]
            return row if row["s1_responded"] == 1 else None

        # Received, acknowledged and answered today: 1 ÷ 2,000 × 1,000 = 0.5 per 1,000
        # homes, and one of one response within the timescales.
        tsm = await eventually(figures)
        assert (tsm["s1_received"], tsm["homes"], tsm["ch01_stage1"]) == (1, 2000, 0.5)
        assert (tsm["ch02_stage1_strict"], tsm["ch02_stage1_accepting"]) == (100.0, 100.0)
        remedies = await reporting_api.get(f"/v1/organisations/{landlord}/remedies", headers=viewer)
        assert remedies.json()["rows"][0]["compensation_offered_gbp"] == 75.0
        dashboard = await reporting_api.get(
            f"/v1/organisations/{landlord}/dashboard", headers=viewer
        )
        assert "Riverside Homes" in dashboard.text
