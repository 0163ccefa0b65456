"""The dashboard in a real headless Chromium (with JavaScript off), the quarterly and
annual reports, the PDF, and the sections only the landlord may write.

The hand-built year is applied in one batch straight through `projection.apply` (the
rebuild's path) — the Kafka path is test_figures_connected.py's — and must give the same
hand-worked figures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.async_api import async_playwright

from putright.reporting.app import create_app
from putright.reporting.projection import apply
from putright.reporting.settings import ReportingSettings
from putright.shared.db import create_engine
from tests.conftest import free_port
from tests.reporting.conftest import serving
from tests.reporting.dataset import EXPECTED_TSM, example_council

pytestmark = [pytest.mark.connected, pytest.mark.browser]

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.asynccontextmanager
async def listening(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app over real HTTP on a free port, for the browser."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _load_council(settings: ReportingSettings, seed: str) -> Any:
    council = example_council(seed)
    engine = create_engine(settings.database_url, schema="reporting", pool_size=1)
    async with engine.begin() as connection:
        await apply(connection, council.data.events)
    await engine.dispose()
    return council


async def test_reports_and_the_landlords_own_sections(service_env: dict[str, Any]) -> None:
    settings = ReportingSettings(**service_env)
    council = await _load_council(settings, service_env["topic_prefix"])
    landlord = council.landlord
    as_landlord = {"X-Putright-Organisation": str(landlord)}
    base = f"/v1/organisations/{landlord}"

    async with serving(create_app(settings, clock=lambda: NOW)) as api:
        tsm = (await api.get(f"{base}/tsm?year=2024", headers=as_landlord)).json()["rows"][0]
        assert {key: tsm[key] for key in EXPECTED_TSM} == EXPECTED_TSM

        opened = await api.get(f"{base}/open", headers=as_landlord)
        assert [
            (r["step"], r["overdue"], r["due_soon"], r["open"]) for r in opened.json()["rows"]
        ] == [("stage1_response", 3, 3, 6)]

        actions = await api.get(f"{base}/actions?year=2024", headers=as_landlord)
        assert actions.json()["rows"] == [
            {"stage": 1, "promised": 2, "done": 1, "outstanding": 1, "overdue": 1}
        ]

        written = await api.put(
            f"{base}/reports/annual/2024/sections/governing_body_response",
            json={"body": "The board accepts the report and asks for faster stage 2 replies."},
            headers=as_landlord,
        )
        assert written.status_code == 204, written.text
        unknown = await api.put(
            f"{base}/reports/annual/2024/sections/anything",
            json={"body": "x"},
            headers=as_landlord,
        )
        assert unknown.status_code == 422
        assert "section" in unknown.text
        contractor = council.contractor
        refused = await api.put(
            f"/v1/organisations/{contractor}/reports/annual/2024/sections/self_assessment",
            json={"body": "x"},
            headers={"X-Putright-Organisation": str(contractor)},
        )
        assert refused.status_code == 403
        stranger = await api.put(
            f"{base}/reports/annual/2024/sections/self_assessment",
            json={"body": "x"},
            headers={"X-Putright-Organisation": str(council.other_landlord)},
        )
        assert stranger.status_code == 404

        annual = await api.get(f"{base}/reports/annual?year=2024", headers=as_landlord)
        assert annual.status_code == 200
        page = annual.text
        assert "faster stage 2 replies" in page
        assert "Not yet written: the landlord&#39;s self-assessment" in page
        for figure in ("50.0", "5.0", "80.2%", "86.3%", "73.7%", "84.2%", "£500.00", "£300.00"):
            assert figure in page, figure
        assert "Book surveys sooner." in page

        pdf = await api.get(f"{base}/reports/annual.pdf?year=2024", headers=as_landlord)
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "annual-report-2024.pdf").write_bytes(pdf.content)

        quarterly = await api.get(
            f"{base}/reports/quarterly?year=2024&quarter=3", headers=as_landlord
        )
        # Q3 2024/25 is October to December 2024: 8 (D, E) + 74 (A2) + 4 (G) at stage 1.
        assert "Stage 1 complaints received: <strong>86</strong>" in quarterly.text


async def test_a_councillor_reads_the_dashboard_without_javascript(
    service_env: dict[str, Any],
) -> None:
    settings = ReportingSettings(**service_env)
    council = await _load_council(settings, service_env["topic_prefix"])
    app = create_app(settings, clock=lambda: NOW)
    async with app.router.lifespan_context(app), listening(app) as origin, async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = await browser.new_context(
            java_script_enabled=False,
            extra_http_headers={"X-Putright-Organisation": str(council.landlord)},
            viewport={"width": 1200, "height": 900},
        )
        page = await context.new_page()
        response = await page.goto(
            f"{origin}/v1/organisations/{council.landlord}/dashboard?year=2024"
        )
        assert response is not None
        assert response.status == 200
        assert await page.title() == "Complaints dashboard 2024/25 — Example Council"
        figures = await page.locator(".figure").all_inner_texts()
        assert any("CH01 stage 1" in text and "50.0" in text for text in figures)
        assert any("CH02 stage 1 — strict" in text and "80.2%" in text for text in figures)
        assert any("counting extensions" in text and "86.3%" in text for text in figures)
        assert await page.locator("svg.chart").count() >= 4
        body = await page.inner_text("body")
        assert "Example Repairs" in body  # the contractor's performance, by name
        assert "Issue arose over 12 months ago" in body
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        reports = f"{origin}/v1/organisations/{council.landlord}/reports"
        for name, path in [
            ("quarterly-2024-q3", f"{reports}/quarterly?year=2024&quarter=3"),
            ("annual-2024", f"{reports}/annual?year=2024"),
        ]:
            shown = await page.goto(path)
            assert shown is not None
            assert shown.status == 200
            await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
