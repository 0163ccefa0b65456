"""Sending letters: render, then email (or queue for print), exactly once as far as SMTP allows.

A letter row is written `pending` in the transaction that consumed its event. The sender
claims one due row (FOR UPDATE SKIP LOCKED), renders it in the landlord's layout, checks
the Code's items, then sends it with its deterministic Message-ID and marks it `sent`,
emitting "letter sent", in that same transaction. A refused or failed send records the
SMTP reply and tries again with exponential back-off; after the last attempt the letter
is `failed` and "letter delivery failed" is emitted.

The one window for a duplicate: the mail server has accepted the message and the
process dies before the commit. The row is still `pending`, so it is sent again, with
the same Message-ID, which lets mail systems recognise the copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol

import aiosmtplib
from jinja2 import TemplateError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.letters.content import LetterFacts
from putright.letters.flows import Letters, letter_event
from putright.letters.models import Letter, LetterLayout, LetterStatus, Organisation, PrintJob
from putright.letters.printing import print_ready_pdf
from putright.letters.rendering import UNBRANDED, Letterhead, Rendered, render, verify
from putright.letters.settings import LettersSettings
from putright.shared.calendar import local_date
from putright.shared.events import (
    Branding,
    Delivery,
    LetterDeliveryFailed,
    LetterKind,
    LetterSent,
)
from putright.shared.events.values import HEADER_UNSAFE, PostalAddress
from putright.shared.observability import LETTERS_FAILED, LETTERS_SENT
from putright.shared.runtime import Runtime

logger = logging.getLogger(__name__)
SEND_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)
Clock = Callable[[], datetime]


class Mailer(Protocol):
    """Hands a message to a mail server; returns the server's reply."""

    async def send(self, message: EmailMessage) -> str: ...


class SmtpMailer:
    """Sends through the configured SMTP server (TLS and login as configured), keeping
    idle connections open for the next letter rather than connecting for each one."""

    def __init__(self, settings: LettersSettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, message: EmailMessage) -> str:
        """Send one message; raises an SMTP or connection error if it is not accepted."""
        client = self._idle.pop() if self._idle else await self._connect()
        try:
            _, reply = await client.send_message(message)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            # An idle connection the server has since closed: retry once on a fresh one.
            client = await self._connect()
            _, reply = await client.send_message(message)
        except BaseException:
            client.close()
            raise
        self._idle.append(client)
        return reply

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.settings.smtp_host,
            port=self.settings.smtp_port,
            username=self.settings.smtp_username,
            password=self.settings.smtp_password,
            start_tls=self.settings.smtp_start_tls,
            use_tls=self.settings.smtp_use_tls,
            timeout=self.settings.smtp_timeout_seconds,
        )
        await client.connect()
        return client


def header_text(value: str) -> str:
    """Drop CR, LF and NUL, so nothing a resident typed can forge an email header."""
    return value.translate({ord(character): None for character in HEADER_UNSAFE})


def build_email(
    letter: Letter,
    *,
    sender: str,
    sender_name: str,
    reply_to: str | None,
    sent_at: datetime,
) -> EmailMessage:
    """A multipart/alternative email carrying the letter as plain text and HTML."""
    assert letter.recipient is not None
    assert letter.html is not None
    assert letter.text is not None
    message = EmailMessage()
    message["From"] = formataddr((header_text(sender_name), header_text(sender)))
    message["To"] = header_text(letter.recipient)
    if reply_to:
        message["Reply-To"] = header_text(reply_to)
    message["Subject"] = header_text(letter.subject)
    message["Message-ID"] = header_text(letter.message_id)
    message["Date"] = format_datetime(sent_at)
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


def backoff(attempts: int, settings: LettersSettings) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: doubling, up to a ceiling."""
    seconds = settings.send_backoff_seconds * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.send_backoff_max_seconds))


def letterhead_of(organisation: Organisation | None) -> Letterhead:
    """The letterhead from the landlord's profile (unbranded while none is known)."""
    if organisation is None:
        return UNBRANDED
    return Letterhead.of(
        name=organisation.name,
        postal_address=PostalAddress.model_validate(organisation.postal_address)
        if organisation.postal_address
        else None,
        phone=organisation.phone,
        complaints_email=organisation.complaints_email,
        branding=Branding.model_validate(organisation.branding),
    )


def _stop_if_cancelled() -> None:
    """Stop even if a library swallowed the shutdown's cancellation on its way up."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Sender:
    """Sends due letters one at a time, each in a transaction of its own."""

    def __init__(
        self,
        runtime: Runtime,
        settings: LettersSettings,
        letters: Letters,
        *,
        mailer: Mailer,
        clock: Clock,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.letters = letters
        self.mailer = mailer
        self.clock = clock

    async def run(self) -> None:
        """Send due letters for the life of the service."""
        while True:
            _stop_if_cancelled()
            try:
                if await self.send_next():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("sending a letter failed; will retry", exc_info=True)
            await asyncio.sleep(self.settings.send_poll_seconds)

    async def send_next(self) -> bool:
        """Deal with one due letter; False when none is due."""
        now = self.clock()
        async with self.runtime.unit_of_work() as session:
            letter = await self._claim(session, now)
            if letter is None:
                return False
            organisation = await session.get(Organisation, letter.organisation_id)
            if organisation is None and not self._waited_long_enough(letter, now):
                letter.next_attempt_at = now + timedelta(seconds=self.settings.send_poll_seconds)
                session.add(letter)
                return True
            if letter.html is None and not await self._render(session, letter, organisation, now):
                return True
            if letter.delivery == Delivery.POST:
                await self._queue_for_print(session, letter, now)
            else:
                await self._email(session, letter, organisation, now)
        return True

    async def _claim(self, session: AsyncSession, now: datetime) -> Letter | None:
        statement = (
            select(Letter)
            .where(col(Letter.status) == LetterStatus.PENDING)
            .where(or_(col(Letter.next_attempt_at).is_(None), col(Letter.next_attempt_at) <= now))
            .order_by(col(Letter.created_at))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await session.exec(statement)).first()

    def _waited_long_enough(self, letter: Letter, now: datetime) -> bool:
        return (now - letter.created_at).total_seconds() >= self.settings.profile_wait_seconds

    async def _render(
        self,
        session: AsyncSession,
        letter: Letter,
        organisation: Organisation | None,
        now: datetime,
    ) -> bool:
        """Render and check the letter; False (and blocked) if it cannot be sent."""
        kind = LetterKind(letter.kind)
        facts = LetterFacts.model_validate(letter.facts)
        layout = await session.get(LetterLayout, letter.organisation_id)
        try:
            rendered = render(
                kind,
                facts,
                letterhead=letterhead_of(organisation),
                written_on=local_date(now),
                layout=layout.blocks if layout else None,
            )
        except (TemplateError, ValueError) as error:
            await self.letters.block(session, letter, [f"layout: {error}"])
            return False
        missing = verify(kind, facts, rendered)
        if missing:
            await self.letters.block(session, letter, missing)
            return False
        self._keep(letter, rendered)
        return True

    @staticmethod
    def _keep(letter: Letter, rendered: Rendered) -> None:
        letter.subject = rendered.subject
        letter.html = rendered.html
        letter.text = rendered.text

    async def _email(
        self,
        session: AsyncSession,
        letter: Letter,
        organisation: Organisation | None,
        now: datetime,
    ) -> None:
        message = build_email(
            letter,
            sender=(organisation.sender_email if organisation else None) or self.settings.mail_from,
            sender_name=organisation.name if organisation else UNBRANDED.name,
            reply_to=organisation.complaints_email if organisation else None,
            sent_at=now,
        )
        letter.attempts += 1
        try:
            await self.mailer.send(message)
        except SEND_ERRORS as error:
            await self._attempt_failed(session, letter, now, repr(error))
            return
        await self._done(session, letter, LetterStatus.SENT, Delivery.EMAIL, now)

    async def _queue_for_print(self, session: AsyncSession, letter: Letter, now: datetime) -> None:
        assert letter.html is not None
        facts = LetterFacts.model_validate(letter.facts)
        pdf = await asyncio.to_thread(print_ready_pdf, letter.html)
        session.add(
            PrintJob(
                letter_id=letter.id,
                organisation_id=letter.organisation_id,
                complaint_id=letter.complaint_id,
                addressee=facts.addressee_name,
                address=facts.address.model_dump(mode="json") if facts.address else None,
                pdf=pdf,
                queued_at=now,
            )
        )
        letter.attempts += 1
        await self._done(session, letter, LetterStatus.QUEUED_FOR_PRINT, Delivery.POST, now)

    async def _done(
        self,
        session: AsyncSession,
        letter: Letter,
        status: LetterStatus,
        delivery: Delivery,
        now: datetime,
    ) -> None:
        letter.status = status
        letter.sent_at = now
        letter.next_attempt_at = None
        session.add(letter)
        LETTERS_SENT.labels(delivery.value).inc()
        await self.runtime.emit(
            session,
            letter_event(
                letter,
                LetterSent(
                    letter_id=letter.id,
                    kind=LetterKind(letter.kind),
                    caused_by_event_id=letter.caused_by_event_id,
                    delivery=delivery,
                    message_id=letter.message_id,
                    sent_at=now,
                ),
            ),
        )

    async def _attempt_failed(
        self, session: AsyncSession, letter: Letter, now: datetime, error: str
    ) -> None:
        logger.warning("letter %s not accepted (attempt %d): %s", letter.id, letter.attempts, error)
        letter.last_error = error[:2000]
        session.add(letter)
        if letter.attempts < self.settings.send_max_attempts:
            letter.next_attempt_at = now + backoff(letter.attempts, self.settings)
            return
        letter.status = LetterStatus.FAILED
        letter.next_attempt_at = None
        LETTERS_FAILED.inc()
        await self.runtime.emit(
            session,
            letter_event(
                letter,
                LetterDeliveryFailed(
                    letter_id=letter.id,
                    kind=LetterKind(letter.kind),
                    caused_by_event_id=letter.caused_by_event_id,
                    attempts=letter.attempts,
                    last_error=letter.last_error,
                ),
            ),
        )
