"""Pure parts of reporting, without infrastructure: event-to-row mapping, periods, charts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from putright.reporting.charts import Series, bar_chart
from putright.reporting.models import complaint, extension, organisation, remedy
from putright.reporting.periods import (
    Period,
    bucket_label,
    quarter_of,
    quarter_range,
    reporting_year,
    reporting_year_of,
)
from putright.reporting.projection import collect
from putright.reporting.rebuild import parse_record
from putright.shared.events import OrganisationKind, OrganisationProfile
from tests.reporting.dataset import Dataset, d, local


def test_events_of_one_complaint_merge_into_one_register_row_in_any_order() -> None:
    data = Dataset("unit")
    landlord = data.organisation("Council", OrganisationKind.LANDLORD, 100, [])
    complaint_id = data.complaint(landlord, local(d("2024-06-03")))
    data.acknowledge(complaint_id, landlord, d("2024-06-05"))
    data.extend(
        complaint_id,
        landlord,
        stage=1,
        notified=d("2024-06-10"),
        days=5,
        previous_due=d("2024-06-19"),
        new_due=d("2024-06-26"),
    )
    received, *rest = data.events[1:]

    for events in ([received, *rest], [*rest, received]):
        row = collect(events).rows[complaint][complaint_id]
        assert row["received_on"] == date(2024, 6, 3)
        assert row["s1_acknowledged_on"] == date(2024, 6, 5)
        assert row["category"] == "anti-social behaviour"
    notices = collect(data.events).rows[extension]
    assert [notice["working_days"] for notice in notices.values()] == [5]


def test_a_profile_replaces_the_last_one_and_a_response_lists_its_remedies() -> None:
    data = Dataset("unit-profile")
    landlord = data.organisation("Council", OrganisationKind.LANDLORD, 100, [d("2024-12-27")])
    data.emit(
        OrganisationProfile(name="Council", kind=OrganisationKind.LANDLORD, homes=120),
        landlord,
        landlord,
    )
    row = collect(data.events).rows[organisation][landlord]
    assert (row["homes"], row["days_off"]) == (120, [])
    assert remedy not in collect(data.events).rows


def test_a_late_night_receipt_belongs_to_its_uk_date() -> None:
    data = Dataset("unit-night")
    landlord = data.organisation("Council", OrganisationKind.LANDLORD, 100, [])
    complaint_id = data.complaint(landlord, datetime(2025, 3, 31, 23, 30, tzinfo=UTC))
    assert collect(data.events).rows[complaint][complaint_id]["received_on"] == date(2025, 4, 1)


def test_reporting_years_and_their_quarters() -> None:
    assert reporting_year(2024).start == date(2024, 4, 1)
    assert reporting_year(2024).end == date(2025, 3, 31)
    assert (reporting_year_of(date(2025, 3, 31)), reporting_year_of(date(2025, 4, 1))) == (
        2024,
        2025,
    )
    assert quarter_range(2024, 1).start == date(2024, 4, 1)
    assert quarter_range(2024, 3).end == date(2024, 12, 31)
    assert quarter_range(2024, 4).start == date(2025, 1, 1)
    assert quarter_range(2024, 4).end == date(2025, 3, 31)
    assert quarter_of(date(2025, 2, 14)) == (2024, 4)
    assert bucket_label(Period.QUARTER, date(2025, 1, 1)) == "2024/25 Q4"
    assert bucket_label(Period.YEAR, date(2024, 4, 1)) == "2024/25"
    assert bucket_label(Period.MONTH, date(2024, 9, 1)) == "Sep 2024"


def test_charts_are_self_contained_svg_with_escaped_labels() -> None:
    svg = bar_chart(
        "Refusals <by reason>",
        ["Over 12 months", "A & B"],
        [Series("Refused", [3, 1])],
        target=2,
    )
    assert svg.startswith("<svg")
    assert "Refusals &lt;by reason&gt;" in svg
    assert "A &amp; B" in svg
    assert svg.count("<rect") == 3  # two bars and one legend key
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_a_record_is_parsed_the_same_with_or_without_its_type_header() -> None:
    data = Dataset("unit")
    landlord = data.organisation("Council", OrganisationKind.LANDLORD, 100, [])
    data.acknowledge(data.complaint(landlord, local(d("2024-06-03"))), landlord, d("2024-06-04"))
    for event in data.events:
        value = event.model_dump_json().encode()
        assert parse_record(value, [("ce_type", event.type.encode())]) == event
        assert parse_record(value, []) == event
        # A header that disagrees with the body loses: the body is the event.
        assert parse_record(value, [("ce_type", b"uk.putright.complaint.closed.v1")]) == event
