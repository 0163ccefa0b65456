"""The committed OpenAPI document is the one the app serves."""

from __future__ import annotations

from putright.intake.openapi import DOCUMENT, document, render


def test_the_committed_openapi_document_matches_the_app() -> None:
    assert DOCUMENT.read_text() == render(document()), (
        "docs/openapi/intake.json is stale: run `uv run python -m putright.intake.openapi`"
    )


def test_every_lifecycle_command_is_published() -> None:
    paths = document()["paths"]
    for step in (
        "stage1/acknowledgement",
        "refusal",
        "extensions",
        "related-issues",
        "stage1/response",
        "escalation",
        "escalation/refusal",
        "stage2/acknowledgement",
        "stage2/response",
        "learning",
        "withdrawal",
        "closure",
    ):
        assert f"/v1/complaints/{{complaint_id}}/{step}" in paths
    assert "/v1/contractor/events" in paths
