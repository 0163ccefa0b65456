"""The generated reference documents are committed, and must match the code."""

from __future__ import annotations

from putright.platform import asyncapi, catalogue
from putright.shared.events import EventData


def test_the_committed_asyncapi_document_matches_the_services() -> None:
    assert asyncapi.DOCUMENT.read_text() == asyncapi.render(), (
        "run: uv run python -m putright.platform.asyncapi"
    )


def test_the_committed_event_catalogue_matches_the_contract() -> None:
    assert catalogue.PAGE.read_text() == catalogue.render(), (
        "run: uv run python -m putright.platform.catalogue"
    )


def test_the_catalogue_lists_every_event_type_with_its_topic() -> None:
    page = catalogue.render()
    for event_type in EventData.registry:
        assert f"## `{event_type}`" in page
    assert "putright.complaints.v1.dlt" in page
