"""Sending letters: render, then email (or queue for print), exactly once as far as SMTP allows.

A letter row is written `pending` in the transaction that consumed its event. The sender
claims a batch of due rows (FOR UPDATE SKIP LOCKED), reads their landlords' profiles and
layouts in one query each, renders and checks the letters that are not yet rendered,
sends the emails one after another over one pooled SMTP connection, and then, in that
same transaction, marks them `sent` and stages their "letter sent" events. A refused or
failed send records the SMTP reply and tries again with exponential back-off; after the
last attempt the letter is `failed` and "letter delivery failed" is emitted.

Each acceptance by the mail server is journalled at once (`letter_delivery`, on a
connection of its own that commits straight away), so a crash before the batch commits
does not send the batch's letters again: the next claim finds them journalled and only
marks them sent. The one window for a duplicate stays one letter wide: the mail server
has accepted the message and the process dies before its journal row is committed. The
row is still `pending`, so it is sent again, with the same Message-ID, which lets mail
systems recognise the copy.

The batch reads everything first and writes only after its last send (the journal
aside), so on SQLite, where a writer locks the whole file, the journal never waits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTPUTF8
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Any, Protocol
from uuid import UUID

import aiosmtplib
from aiosmtplib.email import quote_address
from jinja2 import TemplateError
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.letters.content import LetterFacts
from putright.letters.flows import Letters, letter_event
from putright.letters.models import (
    Letter,
    LetterDelivery,
    LetterLayout,
    LetterStatus,
    Organisation,
    PrintJob,
)
from putright.letters.printing import print_ready_pdf
from putright.letters.rendering import UNBRANDED, Letterhead, Rendered, render, verify
from putright.letters.settings import LettersSettings
from putright.shared.calendar import local_date
from putright.shared.events import (
    Branding,
    Delivery,
    Event,
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
JOURNAL = LetterDelivery.__table__  # type: ignore[attr-defined]
# Built once, so each acceptance only binds its values to a compiled, cached statement.
JOURNAL_ACCEPTANCE = insert(JOURNAL)
JOURNAL_ACCEPTANCE_SQL = (
    "INSERT INTO letter_delivery (letter_id, accepted_at, reply) VALUES ($1, $2, $3)"
)
CRLF = "\r\n"
RECIPIENT_ACCEPTED = (aiosmtplib.SMTPStatus.completed, aiosmtplib.SMTPStatus.will_forward)


@dataclass(frozen=True)
class OutgoingEmail:
    """An email ready for SMTP: its envelope and the message's bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    smtputf8: bool = False

    def as_bytes(self) -> bytes:
        """The message as it goes over the wire."""
        return self.data


class Mailer(Protocol):
    """Hands a message to a mail server; returns the server's reply."""

    async def send(self, email: OutgoingEmail) -> str: ...


class SmtpMailer:
    """Sends through the configured SMTP server (TLS and login as configured), keeping
    idle connections open for the next letter rather than connecting for each one."""

    def __init__(self, settings: LettersSettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []

    async def send(self, email: OutgoingEmail) -> str:
        """Send one message; raises an SMTP or connection error if it is not accepted."""
        client = self._idle.pop() if self._idle else await self._connect()
        try:
            reply = await self._send_on(client, email)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            # An idle connection the server has since closed: retry once on a fresh one.
            client = await self._connect()
            reply = await self._send_on(client, email)
        except BaseException:
            client.close()
            raise
        self._idle.append(client)
        return reply

    async def _send_on(self, client: aiosmtplib.SMTP, email: OutgoingEmail) -> str:
        """One mail transaction, as `SMTP.sendmail` runs it but with each address parsed
        once per process rather than three times per message (a tenth of a send's CPU),
        and one time limit for the whole transaction rather than a timer per reply."""
        encoding = "utf-8" if email.smtputf8 else "ascii"
        options = [b"SMTPUTF8"] if email.smtputf8 else []
        if client.supports_extension("size"):
            options.insert(0, f"SIZE={len(email.data)}".encode())
        async with asyncio.timeout(self.settings.smtp_timeout_seconds):
            try:
                reply = await client.execute_command(
                    b"MAIL",
                    b"FROM:" + quoted(email.sender).encode(encoding),
                    *options,
                    timeout=None,
                )
                if reply.code != aiosmtplib.SMTPStatus.completed:
                    raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, email.sender)
                for recipient in email.recipients:
                    reply = await client.execute_command(
                        b"RCPT", b"TO:" + quoted(recipient).encode(encoding), timeout=None
                    )
                    if reply.code not in RECIPIENT_ACCEPTED:
                        raise aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
                return (await client.data(email.data, timeout=None)).message
            except aiosmtplib.SMTPResponseException:
                with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
                    await client.rset(timeout=None)  # ready the connection for the next letter
                raise

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
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()  # MAIL is sent directly, so greet before it
        return client


@lru_cache(maxsize=4096)
def quoted(address: str) -> str:
    """An address as MAIL and RCPT take it, checked by aiosmtplib's own parser."""
    return quote_address(address)


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
) -> OutgoingEmail:
    """A multipart/alternative email carrying the letter as plain text and HTML.

    Written out directly (base64 bodies, RFC 2047 for any non-ASCII subject or name):
    the `email` package's header registry and generator cost more than the rest of a
    send. Addresses that are not ASCII need SMTPUTF8, which the `email` package builds."""
    assert letter.recipient is not None
    assert letter.html is not None
    assert letter.text is not None
    sender, recipient = header_text(sender), header_text(letter.recipient)
    reply = header_text(reply_to) if reply_to else None
    if not (sender + recipient + (reply or "")).isascii():
        return _international_email(letter, sender, sender_name, reply, sent_at)
    boundary = f"=_{letter.id.hex}"  # "=_" never occurs in base64 bodies
    headers = [
        ("From", formataddr((header_text(sender_name), sender), charset="utf-8")),
        ("To", recipient),
        *([("Reply-To", reply)] if reply else []),
        ("Subject", _header_words(header_text(letter.subject))),
        ("Message-ID", header_text(letter.message_id)),
        ("Date", format_datetime(sent_at)),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    lines = [f"{name}: {value}" for name, value in headers]
    for subtype, body in (("plain", letter.text), ("html", letter.html)):
        lines += [
            "",
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
            base64.encodebytes(body.encode()).decode("ascii").rstrip("\n").replace("\n", CRLF),
        ]
    lines += [f"--{boundary}--", ""]
    data = CRLF.join(lines)
    return OutgoingEmail(sender=sender, recipients=(recipient,), data=data.encode("ascii"))


def _header_words(value: str) -> str:
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8").encode(linesep=CRLF)


def _international_email(
    letter: Letter, sender: str, sender_name: str, reply_to: str | None, sent_at: datetime
) -> OutgoingEmail:
    assert letter.recipient is not None
    assert letter.html is not None
    assert letter.text is not None
    message = EmailMessage(policy=SMTPUTF8)
    message["From"] = formataddr((header_text(sender_name), sender))
    message["To"] = header_text(letter.recipient)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = header_text(letter.subject)
    message["Message-ID"] = header_text(letter.message_id)
    message["Date"] = format_datetime(sent_at)
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    recipient = header_text(letter.recipient)
    return OutgoingEmail(sender, (recipient,), message.as_bytes(), smtputf8=True)


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


class Journal:
    """Records each acceptance by the mail server the moment it happens, on a connection
    of its own outside the batch's transaction, so the row is committed at once.

    On PostgreSQL the row goes straight through asyncpg (one prepared statement, no
    transaction: asyncpg commits each statement on its own), which takes a third of the
    CPU SQLAlchemy's execute did for this one hot insert; elsewhere through SQLAlchemy in
    autocommit mode."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self._driver: Any = None

    async def open(self) -> None:
        """Ready the connection: autocommit, or asyncpg's own connection on PostgreSQL."""
        if self.connection.dialect.driver == "asyncpg":
            raw = await self.connection.get_raw_connection()
            self._driver = raw.driver_connection
        else:
            await self.connection.execution_options(isolation_level="AUTOCOMMIT")

    async def accepted(self, letter_id: UUID, at: datetime, reply: str) -> None:
        """Commit that the server accepted this letter."""
        if self._driver is not None:
            await self._driver.execute(JOURNAL_ACCEPTANCE_SQL, letter_id, at, reply[:2000])
            return
        await self.connection.execute(
            JOURNAL_ACCEPTANCE, {"letter_id": letter_id, "accepted_at": at, "reply": reply[:2000]}
        )


def _stop_if_cancelled() -> None:
    """Stop even if a library swallowed the shutdown's cancellation on its way up."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass
class Batch:
    """What one batch has read, and the writes it makes once its last email is sent."""

    organisations: dict[UUID, Organisation]
    layouts: dict[UUID, dict[str, str]]
    journalled: set[UUID]
    events: list[Event[Any]] = field(default_factory=list)
    print_jobs: list[PrintJob] = field(default_factory=list)
    letterheads: dict[UUID, Letterhead] = field(default_factory=dict)

    def letterhead(self, organisation_id: UUID) -> Letterhead:
        """The letterhead of a landlord, made once per batch."""
        if organisation_id not in self.letterheads:
            self.letterheads[organisation_id] = letterhead_of(
                self.organisations.get(organisation_id)
            )
        return self.letterheads[organisation_id]


class Sender:
    """Sends due letters a batch at a time, each batch in one transaction."""

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
        self._letters_stored = asyncio.Event()

    async def run(self) -> None:
        """Send due letters for the life of the service."""
        while True:
            _stop_if_cancelled()
            try:
                if await self.send_due():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("sending letters failed; will retry", exc_info=True)
            await self._wait_for_letters()

    def wake(self) -> None:
        """Tell the sender new letters are stored, so it need not wait for its next poll."""
        self._letters_stored.set()

    async def _wait_for_letters(self) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as the wake-up fires.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.send_poll_seconds):
                await self._letters_stored.wait()
        self._letters_stored.clear()

    async def send_due(self) -> int:
        """Deal with a batch of due letters; returns how many (0 when none is due)."""
        now = self.clock()
        async with self.runtime.unit_of_work() as session:
            letters = await self._claim(session, now)
            if not letters:
                return 0
            batch = await self._read(session, letters)
            async with self.runtime.engine.connect() as connection:
                journal = Journal(connection)
                await journal.open()
                for letter in letters:
                    await self._deal_with(journal, batch, letter, now)
            session.add_all(batch.print_jobs)
            if batch.journalled:
                await (await session.connection()).execute(
                    delete(JOURNAL).where(JOURNAL.c.letter_id.in_(batch.journalled))
                )
            await self.runtime.emit(session, *batch.events)
        return len(letters)

    async def _claim(self, session: AsyncSession, now: datetime) -> Sequence[Letter]:
        statement = (
            select(Letter)
            .where(col(Letter.status) == LetterStatus.PENDING)
            .where(or_(col(Letter.next_attempt_at).is_(None), col(Letter.next_attempt_at) <= now))
            .order_by(col(Letter.created_at))
            .limit(self.settings.send_batch_size)
            .with_for_update(skip_locked=True)
        )
        return (await session.exec(statement)).all()

    async def _read(self, session: AsyncSession, letters: Sequence[Letter]) -> Batch:
        """Everything the batch needs from the database, one query per table."""
        landlords = {letter.organisation_id for letter in letters}
        organisations = await session.exec(
            select(Organisation).where(col(Organisation.id).in_(landlords))
        )
        layouts = await session.exec(
            select(LetterLayout).where(col(LetterLayout.organisation_id).in_(landlords))
        )
        journalled = await session.exec(
            select(LetterDelivery.letter_id).where(
                col(LetterDelivery.letter_id).in_([letter.id for letter in letters])
            )
        )
        return Batch(
            organisations={organisation.id: organisation for organisation in organisations},
            layouts={layout.organisation_id: layout.blocks for layout in layouts},
            journalled=set(journalled),
        )

    async def _deal_with(
        self,
        journal: Journal,
        batch: Batch,
        letter: Letter,
        now: datetime,
    ) -> None:
        if letter.id in batch.journalled:  # sent before a crash: only mark it sent
            self._done(batch, letter, LetterStatus.SENT, Delivery.EMAIL, now)
            return
        organisation = batch.organisations.get(letter.organisation_id)
        if organisation is None and not self._waited_long_enough(letter, now):
            letter.next_attempt_at = now + timedelta(seconds=self.settings.send_poll_seconds)
            return
        if letter.html is None and not self._render(batch, letter, now):
            return
        if letter.delivery == Delivery.POST:
            await self._queue_for_print(batch, letter, now)
        else:
            await self._email(journal, batch, letter, organisation, now)

    def _waited_long_enough(self, letter: Letter, now: datetime) -> bool:
        return (now - letter.created_at).total_seconds() >= self.settings.profile_wait_seconds

    def _render(self, batch: Batch, letter: Letter, now: datetime) -> bool:
        """Render and check the letter; False (and blocked) if it cannot be sent."""
        kind = LetterKind(letter.kind)
        facts = LetterFacts.model_validate(letter.facts)
        try:
            rendered = render(
                kind,
                facts,
                letterhead=batch.letterhead(letter.organisation_id),
                written_on=local_date(now),
                layout=batch.layouts.get(letter.organisation_id),
            )
        except (TemplateError, ValueError) as error:
            batch.events.append(self.letters.blocked(letter, [f"layout: {error}"]))
            return False
        missing = verify(kind, facts, rendered)
        if missing:
            batch.events.append(self.letters.blocked(letter, missing))
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
        journal: Journal,
        batch: Batch,
        letter: Letter,
        organisation: Organisation | None,
        now: datetime,
    ) -> None:
        email = build_email(
            letter,
            sender=(organisation.sender_email if organisation else None) or self.settings.mail_from,
            sender_name=organisation.name if organisation else UNBRANDED.name,
            reply_to=organisation.complaints_email if organisation else None,
            sent_at=now,
        )
        letter.attempts += 1
        try:
            reply = await self.mailer.send(email)
        except SEND_ERRORS as error:
            self._attempt_failed(batch, letter, now, repr(error))
            return
        await journal.accepted(letter.id, now, reply)
        batch.journalled.add(letter.id)
        self._done(batch, letter, LetterStatus.SENT, Delivery.EMAIL, now)

    async def _queue_for_print(self, batch: Batch, letter: Letter, now: datetime) -> None:
        assert letter.html is not None
        facts = LetterFacts.model_validate(letter.facts)
        pdf = await asyncio.to_thread(print_ready_pdf, letter.html)
        batch.print_jobs.append(
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
        self._done(batch, letter, LetterStatus.QUEUED_FOR_PRINT, Delivery.POST, now)

    @staticmethod
    def _done(
        batch: Batch, letter: Letter, status: LetterStatus, delivery: Delivery, now: datetime
    ) -> None:
        letter.status = status
        letter.sent_at = now
        letter.next_attempt_at = None
        LETTERS_SENT.labels(delivery.value).inc()
        batch.events.append(
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
            )
        )

    def _attempt_failed(self, batch: Batch, letter: Letter, now: datetime, error: str) -> None:
        logger.warning("letter %s not accepted (attempt %d): %s", letter.id, letter.attempts, error)
        letter.last_error = error[:2000]
        if letter.attempts < self.settings.send_max_attempts:
            letter.next_attempt_at = now + backoff(letter.attempts, self.settings)
            return
        letter.status = LetterStatus.FAILED
        letter.next_attempt_at = None
        LETTERS_FAILED.inc()
        batch.events.append(
            letter_event(
                letter,
                LetterDeliveryFailed(
                    letter_id=letter.id,
                    kind=LetterKind(letter.kind),
                    caused_by_event_id=letter.caused_by_event_id,
                    attempts=letter.attempts,
                    last_error=letter.last_error,
                ),
            )
        )
