"""Sending letters by email, exactly once as far as SMTP allows.

A letter row is written `pending` in the transaction that consumed its event. The sender
claims pending rows, sends each with a Message-ID derived from the letter, and marks it
`sent` (emitting "letter sent") in one transaction. The only window for a duplicate is a
crash after the mail server accepted the message and before that commit; the resend then
carries the same Message-ID, so mail systems can recognise it.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from uuid import NAMESPACE_URL, UUID, uuid5

import aiosmtplib
from sqlmodel import col, select

from putright.letters.models import Letter
from putright.letters.settings import LettersSettings
from putright.shared.events import Delivery, LetterKind, LetterSent, new_event
from putright.shared.events.envelope import utc_now
from putright.shared.runtime import Runtime

logger = logging.getLogger(__name__)
SOURCE = "putright/letters"


def letter_id(complaint_id: UUID, kind: str, caused_by: UUID) -> UUID:
    """A letter's id follows from its complaint, kind and cause, so redelivery finds it."""
    return uuid5(NAMESPACE_URL, f"putright:letter:{complaint_id}:{kind}:{caused_by}")


def message_id(letter: UUID, domain: str) -> str:
    """The deterministic RFC 5322 Message-ID of a letter."""
    return f"<{letter}@{domain}>"


def build_email(letter: Letter, settings: LettersSettings) -> EmailMessage:
    """A multipart/alternative email carrying the letter as plain text and HTML."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = letter.recipient
    message["Subject"] = letter.subject
    message["Message-ID"] = letter.message_id
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


async def send_next(runtime: Runtime, settings: LettersSettings) -> bool:
    """Send one pending letter, in a transaction of its own; False when none is pending."""
    async with runtime.unit_of_work() as session:
        letter = (
            await session.exec(
                select(Letter)
                .where(col(Letter.status) == "pending")
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if letter is None:
            return False
        await aiosmtplib.send(
            build_email(letter, settings),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_start_tls,
            use_tls=settings.smtp_use_tls,
            timeout=settings.smtp_timeout_seconds,
        )
        sent_at = utc_now()
        letter.status = "sent"
        letter.sent_at = sent_at
        session.add(letter)
        await runtime.emit(
            session,
            new_event(
                LetterSent(
                    letter_id=letter.id,
                    kind=LetterKind(letter.kind),
                    caused_by_event_id=letter.caused_by_event_id,
                    delivery=Delivery.EMAIL,
                    message_id=letter.message_id,
                    sent_at=sent_at,
                ),
                source=SOURCE,
                subject=letter.complaint_id,
                organisation_id=letter.organisation_id,
            ),
        )
    return True


async def run_sender(runtime: Runtime, settings: LettersSettings) -> None:
    """Send pending letters for the life of the service."""
    while True:
        try:
            if await send_next(runtime, settings):
                continue
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("sending a letter failed; will retry", exc_info=True)
        await asyncio.sleep(settings.send_poll_seconds)
