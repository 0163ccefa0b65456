"""The demo inbox keeps what a real SMTP client sends and shows it."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from fastapi import FastAPI

from putright.platform.inbox import MailStore, inbox_router, start_smtp
from tests.conftest import free_port

pytestmark = pytest.mark.smtp


async def test_a_sent_letter_appears_in_the_inbox_with_both_parts(tmp_path: Path) -> None:
    store = MailStore(tmp_path / "inbox.db")
    port = free_port()
    controller = start_smtp(store, host="127.0.0.1", port=port)
    try:
        message = EmailMessage()
        message["From"] = "complaints@example-council.gov.uk"
        message["To"] = "sam@example.org"
        message["Subject"] = "Your complaint C-123"
        message.set_content("We have received your complaint.")
        message.add_alternative("<p>We have <em>received</em> your complaint.</p>", subtype="html")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)
    finally:
        controller.stop()

    app = FastAPI()
    app.include_router(inbox_router(MailStore(tmp_path / "inbox.db")))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        listing = await client.get("/inbox")
        [mail] = store.all()
        shown = await client.get(f"/inbox/{mail.id}")
        missing = await client.get("/inbox/999")
    assert "Your complaint C-123" in listing.text
    assert "sam@example.org" in listing.text
    assert "We have received your complaint." in shown.text
    assert "&lt;em&gt;received&lt;/em&gt;" in shown.text  # the HTML part, escaped into srcdoc
    assert missing.status_code == 404
