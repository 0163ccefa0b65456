"""The hand-built year (dataset.py) through real Kafka, the live consumer and PostgreSQL:
the figures, the scoping, the configured extension rule, and a rebuild that agrees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from putright.reporting.app import create_app
from putright.reporting.figures import Scope
from putright.reporting.rebuild import rebuild
from putright.reporting.settings import ExtensionRule, ReportingSettings
from putright.shared.events import OrganisationKind
from tests.reporting.conftest import all_figures, publish, serving, wait_until_projected
from tests.reporting.dataset import EXPECTED_MONTHS, EXPECTED_TSM, example_council

pytestmark = [pytest.mark.connected, pytest.mark.slow]

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)


async def test_a_year_of_events_gives_the_hand_worked_figures_and_rebuilds_the_same(
    service_env: dict[str, Any],
) -> None:
    settings = ReportingSettings(**service_env)
    council = example_council(service_env["topic_prefix"])
    landlord, contractor, other = council.landlord, council.contractor, council.other_landlord
    as_landlord = {"X-Putright-Organisation": str(landlord)}

    async with serving(create_app(settings, clock=lambda: NOW)) as api:
        count = await publish(settings, council.data.events)
        await wait_until_projected(settings, count)

        tsm = await api.get(f"/v1/organisations/{landlord}/tsm?year=2024", headers=as_landlord)
        assert tsm.status_code == 200, tsm.text
        row = tsm.json()["rows"][0]
        assert {key: row[key] for key in EXPECTED_TSM} == EXPECTED_TSM
        assert row["extension_rule"] == "within_limit_or_good_reason"

        monthly = await api.get(
            f"/v1/organisations/{landlord}/volumes?year=2024&period=month&by=stage",
            headers=as_landlord,
        )
        body = monthly.json()
        assert {r["period"]: r["complaints"] for r in body["rows"] if r["stage"] == 1} == (
            EXPECTED_MONTHS
        )
        assert (body["received"], body["escalated"], body["escalation_rate"]) == (200, 20, 10.0)

        refusals = await api.get(
            f"/v1/organisations/{landlord}/refusals?year=2024", headers=as_landlord
        )
        assert {(r["stage"], r["reason"]): r["refused"] for r in refusals.json()["rows"]} == {
            (1, "issue_over_twelve_months"): 1,
            (1, "legal_proceedings"): 1,
            (2, "already_considered"): 1,
        }
        remedies = await api.get(
            f"/v1/organisations/{landlord}/remedies?year=2024&format=csv", headers=as_landlord
        )
        assert remedies.headers["content-type"].startswith("text/csv")
        assert remedies.text.splitlines() == [
            "kind,offered,done,outstanding,compensation_offered_gbp,compensation_paid_gbp",
            "apology,20,20,0,0.0,0.0",
            "financial,10,6,4,500.0,300.0",
        ]

        # The contractor sees only the 45 complaints it handled, all on time.
        as_contractor = {"X-Putright-Organisation": str(contractor)}
        own = await api.get(
            f"/v1/organisations/{contractor}/volumes?year=2024", headers=as_contractor
        )
        assert (own.json()["received"], own.json()["escalated"]) == (45, 0)
        performance = await api.get(
            f"/v1/organisations/{contractor}/timeliness?year=2024", headers=as_contractor
        )
        assert {
            (r["stage"], r["step"]): (r["done"], r["within_strict"])
            for r in performance.json()["rows"]
        } == {
            (1, "acknowledgement"): (45, 45),
            (1, "response"): (45, 45),
        }
        # Nobody sees another organisation's figures; unknown looks the same as forbidden.
        for path_org, viewer in [
            (landlord, contractor),
            (other, landlord),
            (landlord, None),
            (uuid.uuid4(), None),
        ]:
            headers = {"X-Putright-Organisation": str(viewer)} if viewer else {}
            denied = await api.get(f"/v1/organisations/{path_org}/tsm", headers=headers)
            assert denied.status_code == 404
        malformed = await api.get(
            f"/v1/organisations/{landlord}/tsm", headers={"X-Putright-Organisation": "me"}
        )
        assert malformed.status_code == 422
        assert "X-Putright-Organisation" in malformed.text
        others = await api.get(
            f"/v1/organisations/{other}/volumes?year=2024",
            headers={"X-Putright-Organisation": str(other)},
        )
        assert others.json()["received"] == 1

    scope = Scope(landlord, OrganisationKind.LANDLORD)
    live = await all_figures(settings.database_url, "reporting", scope)
    # The extension rule is configuration: each rule gives its own hand-worked figure.
    assert {rule: live["rules"][rule]["s1_accepting"] for rule in ExtensionRule} == {
        ExtensionRule.WITHIN_CODE_LIMIT: 158 + 8,
        ExtensionRule.WITHIN_LIMIT_OR_GOOD_REASON: 158 + 8 + 4,
        ExtensionRule.ANY_NOTIFIED: 158 + 8 + 4 + 4,
    }

    shadow = f"reporting_rebuild_{uuid.uuid4().hex[:8]}"
    report = await rebuild(settings, schema=shadow)
    assert report.events == count
    assert await all_figures(settings.database_url, shadow, scope) == live
