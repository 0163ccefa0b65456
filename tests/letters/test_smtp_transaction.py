"""The sender's own SMTP transaction (MAIL, RCPT, DATA) against a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from putright.letters.sending import OutgoingEmail, SmtpMailer
from putright.letters.settings import LettersSettings
from tests.conftest import free_port

pytestmark = pytest.mark.smtp


class Picky:
    """Refuses one sender and one recipient; keeps every message it accepts."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, list[str], bytes]] = []

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address == "blocked@landlord.example":
            return "550 sender not allowed"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address == "nobody@example.org":
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        self.accepted.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 queued as 42"


@pytest.fixture
def picky() -> Iterator[tuple[Picky, int]]:
    handler, port = Picky(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def email(sender: str, recipient: str) -> OutgoingEmail:
    data = f"From: {sender}\r\nTo: {recipient}\r\nSubject: test\r\n\r\n.hello\r\n".encode()
    return OutgoingEmail(sender, (recipient,), data)


async def test_refusals_raise_and_leave_the_connection_ready_for_the_next_letter(
    picky: tuple[Picky, int],
) -> None:
    handler, port = picky
    mailer = SmtpMailer(
        LettersSettings(database_url="sqlite+aiosqlite://", smtp_host="127.0.0.1", smtp_port=port)
    )
    with pytest.raises(aiosmtplib.SMTPRecipientRefused):
        await mailer.send(email("homes@landlord.example", "nobody@example.org"))
    with pytest.raises(aiosmtplib.SMTPSenderRefused):
        await mailer.send(email("blocked@landlord.example", "resident@example.org"))
    reply = await mailer.send(email("homes@landlord.example", "resident@example.org"))

    assert "queued as 42" in reply
    assert len(handler.accepted) == 1
    sender, recipients, content = handler.accepted[0]
    assert (sender, recipients) == ("homes@landlord.example", ["resident@example.org"])
    assert b"\r\n.hello\r\n" in content  # a leading dot survives the dot-stuffing
