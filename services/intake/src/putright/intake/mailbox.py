"""The email channel: an SMTP server (aiosmtpd) taking mail for landlords' complaints addresses.

It runs on the service's own event loop, so it shares the database engine and outbox.
Mail to an address no landlord receives complaints at is refused at RCPT (550). Each
accepted message is kept whole as correspondence and logged as a complaint; a message
delivered twice (same Message-ID) is logged once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from aiosmtpd.smtp import SMTP, Envelope, Session
from email_validator import EmailNotValidError, validate_email
from sqlmodel import select

from putright.intake.complaints import (
    Clock,
    ComplaintSubmission,
    Context,
    ResidentDetails,
    receive,
)
from putright.intake.directory import landlord_snapshot
from putright.intake.models import Complaint, Correspondence, Organisation
from putright.shared.events import OrganisationKind
from putright.shared.events.values import Channel
from putright.shared.runtime import Runtime

logger = logging.getLogger(__name__)
MAX_DESCRIPTION = 20_000
DEFAULT_CATEGORY = "general"


class ComplaintsMailbox:
    """aiosmtpd handler: RCPT checks the landlord, DATA logs the complaint."""

    def __init__(self, runtime: Runtime, clock: Clock) -> None:
        self.runtime = runtime
        self.clock = clock

    async def _landlord_at(self, address: str) -> Organisation | None:
        async with self.runtime.sessions() as session:
            return (
                await session.exec(
                    select(Organisation).where(
                        Organisation.complaints_email == address.lower(),
                        Organisation.kind == OrganisationKind.LANDLORD,
                    )
                )
            ).first()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,  # noqa: ARG002 - aiosmtpd's signature
        session: Session,  # noqa: ARG002
        envelope: Envelope,
        address: str,
        options: Any,  # noqa: ARG002
    ) -> str:
        """Accept only addresses a landlord receives complaints at."""
        if await self._landlord_at(address) is None:
            return "550 5.1.1 No complaints mailbox at this address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,  # noqa: ARG002 - aiosmtpd's signature
        session: Session,  # noqa: ARG002
        envelope: Envelope,
    ) -> str:
        """Log the message as a complaint for each landlord it was sent to."""
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        references = []
        try:
            for address in envelope.rcpt_tos:
                landlord = await self._landlord_at(address)
                if landlord is not None:
                    references.append(await self._log(landlord, message, raw, envelope))
        except Exception:
            logger.exception("could not log an emailed complaint")
            return "451 4.3.0 Could not log the complaint; please try again later"
        return f"250 Complaint logged: {', '.join(references)}"

    async def _log(
        self, landlord: Organisation, message: EmailMessage, raw: bytes, envelope: Envelope
    ) -> str:
        message_id = str(message.get("Message-ID") or hashlib.sha256(raw).hexdigest())
        complaint_id = uuid5(NAMESPACE_URL, f"putright:email:{landlord.id}:{message_id}")
        async with self.runtime.unit_of_work() as session:
            existing = await session.get(Complaint, complaint_id)
            if existing is not None:
                return existing.reference
            now = self.clock()
            accepted = await receive(
                Context(session=session, runtime=self.runtime, clock=self.clock),
                landlord=await landlord_snapshot(session, landlord),
                submission=_submission(message, envelope, landlord.id),
                complaint_id=complaint_id,
                correspondence=_correspondence(message, raw, now, complaint_id),
            )
        return accepted.reference


def _sender(message: EmailMessage, envelope: Envelope) -> tuple[str, str | None]:
    name, address = parseaddr(str(message.get("From") or envelope.mail_from or ""))
    try:
        email = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        email = None
    display = " ".join((name or address.split("@")[0] or "Unknown sender").split())
    return display[:200], email


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = body.get_content()
    return content.strip() if isinstance(content, str) else ""


def _submission(
    message: EmailMessage, envelope: Envelope, landlord_id: UUID
) -> ComplaintSubmission:
    name, email = _sender(message, envelope)
    subject = " ".join(str(message.get("Subject") or "").split())
    description = _text_of(message) or subject or "(an email with no text)"
    return ComplaintSubmission(
        organisation_id=landlord_id,
        channel=Channel.EMAIL,
        description=description[:MAX_DESCRIPTION],
        category=DEFAULT_CATEGORY,
        resident=ResidentDetails(name=name, email=email),
    )


def _attachment(part: EmailMessage) -> dict[str, Any]:
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    return {
        "filename": part.get_filename(),
        "content_type": part.get_content_type(),
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def _correspondence(
    message: EmailMessage, raw: bytes, received_at: datetime, complaint_id: UUID
) -> Correspondence:
    attachments = [_attachment(part) for part in message.iter_attachments()]
    return Correspondence(
        complaint_id=complaint_id,
        channel=Channel.EMAIL,
        received_at=received_at,
        sender=str(message.get("From") or ""),
        subject=str(message.get("Subject") or ""),
        headers=[[key, str(value)] for key, value in message.items()],
        body=_text_of(message),
        attachments=attachments,
        raw=raw,
    )


async def serve_mailbox(
    handler: ComplaintsMailbox, *, host: str, port: int, max_bytes: int
) -> asyncio.Server:
    """Listen for SMTP on the running loop."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, data_size_limit=max_bytes, hostname="putright-intake"),
        host=host,
        port=port,
    )
