"""The embedded default, driven as a visitor would: start it, complain through the web
form, read the letters in the inbox, read the figure on the dashboard, stop it, and
start it again with everything still there."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import free_port

pytestmark = [pytest.mark.browser, pytest.mark.smtp, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Putright:
    """`python -m putright.platform.embedded` as a child process."""

    def __init__(self, data_dir: Path, port: int, *options: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.options = options
        self.process: subprocess.Popen[str] | None = None

    def url(self, offset: int, path: str) -> str:
        return f"http://127.0.0.1:{self.port + offset}{path}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "putright.platform.embedded",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                *self.options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read()  # type: ignore[union-attr]
            try:
                if httpx.get(self.url(4, "/inbox"), timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        raise AssertionError("Putright did not start within two minutes")

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        output, _ = self.process.communicate(timeout=60)
        return output

    def tenants(self) -> dict[str, Any]:
        tenants: dict[str, Any] = json.loads((self.data_dir / "demo-tenants.json").read_text())
        return tenants


@pytest.fixture
def putright(tmp_path: Path) -> Iterator[Putright]:
    running = Putright(tmp_path / "demo", free_port())
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def wait_for_text(page: Page, url: str, text: str, timeout: float = 60) -> None:
    """Reload `url` until it shows `text`, as a visitor waiting for a letter would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await page.goto(url)
        if text in await page.content():
            return
        await page.wait_for_timeout(500)
    raise AssertionError(f"{url} never showed {text!r}")


async def test_a_visitor_complains_reads_the_letters_and_sees_the_figure(
    putright: Putright, browser: Browser
) -> None:
    putright.start()
    output = ""
    try:
        tenants = putright.tenants()
        page = await browser.new_page()
        await page.goto(putright.url(0, f"/complain/{tenants['landlord_slug']}"))
        await page.get_by_label("Your full name").fill("Jo Tenant")
        await page.get_by_label("By email").check()
        await page.get_by_label("Email address").fill("jo@example.org")
        await page.get_by_label("What is your complaint about?").select_option("damp-and-mould")
        await page.get_by_label("What went wrong?").fill("Black mould on the bedroom wall.")
        await page.get_by_label("What would you like us to do").fill("Treat the mould.")
        await page.get_by_role("button", name="Send complaint").click()
        reference = (await page.locator("#reference").inner_text()).strip()
        assert reference.startswith("C-")

        # Staff acknowledge it through the API, as their case system would.
        landlord = {"Authorization": f"Bearer {tenants['landlord_key']}"}
        async with httpx.AsyncClient(headers=landlord) as api:
            listed = await api.get(putright.url(0, f"/v1/complaints?reference={reference}"))
            complaint_id = listed.json()["items"][0]["id"]
            acknowledged = await api.post(
                putright.url(0, f"/v1/complaints/{complaint_id}/stage1/acknowledgement"),
                json={
                    "handler": {"staff_id": "s-1", "name": "Sam Officer"},
                    "definition": {
                        "summary": "Mould in the bedroom",
                        "outcomes_sought": "Treat it",
                    },
                },
            )
        assert acknowledged.status_code == 200, acknowledged.text

        inbox = putright.url(4, "/inbox")
        await wait_for_text(page, inbox, f"We have received your complaint ({reference})")
        await wait_for_text(page, inbox, f"Your complaint {reference}: what happens next")
        await page.get_by_role(
            "link", name=f"We have received your complaint ({reference})"
        ).click()
        assert "jo@example.org" in await page.content()

        dashboard = putright.url(3, f"/v1/organisations/{tenants['landlord_id']}/dashboard")
        await page.goto(putright.url(4, f"/sign-in?key={tenants['landlord_key']}&next={dashboard}"))
        year_row = page.locator("tr", has=page.locator("th", has_text="Year")).first
        assert (await year_row.locator("th").nth(1).inner_text()).strip() == "1"
    finally:
        output = putright.stop()
    assert "Putright is running" in output

    # State survives a restart: the same complaint, the same figure.
    putright.start()
    try:
        page = await browser.new_page()
        await page.goto(putright.url(4, f"/sign-in?key={tenants['landlord_key']}&next={dashboard}"))
        year_row = page.locator("tr", has=page.locator("th", has_text="Year")).first
        assert (await year_row.locator("th").nth(1).inner_text()).strip() == "1"
    finally:
        putright.stop()


async def test_simulated_time_brings_a_deadline_due_within_a_minute(tmp_path: Path) -> None:
    """With --simulate, days pass in seconds: an unacknowledged complaint's clock is missed."""
    putright = Putright(tmp_path / "demo", free_port(), "--simulate", "--seconds-per-day", "2")
    putright.start()
    try:
        tenants = putright.tenants()
        landlord = {"Authorization": f"Bearer {tenants['landlord_key']}"}
        async with httpx.AsyncClient(headers=landlord) as api:
            posted = await api.post(
                putright.url(0, "/v1/complaints"),
                json={
                    "description": "No hot water for a week.",
                    "category": "repairs",
                    "resident": {"name": "Ali", "email": "ali@example.org"},
                },
            )
            assert posted.status_code == 201, posted.text
            clocks_url = putright.url(1, f"/v1/complaints/{posted.json()['id']}/clocks")
            deadline = time.monotonic() + 60
            missed: list[dict[str, Any]] = []
            while not missed and time.monotonic() < deadline:
                await asyncio.sleep(1)
                clocks = (await api.get(clocks_url)).json()
                missed = [clock for clock in clocks if clock.get("missed_at")]
    finally:
        putright.stop()
    assert missed, "the acknowledgement clock never came due"
    assert missed[0]["step"] == "stage1_acknowledgement"
