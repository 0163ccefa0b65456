"""Letters' HTTP API: the correspondence record, the print queue and the layout.

Every request speaks for the organisation the platform's ingress authenticated
(`putright.shared.tenancy`). A letter of another organisation answers 404, as if it did
not exist.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.exceptions import RequestValidationError
from sqlmodel import col, select

from putright.letters.content import LetterFacts
from putright.letters.models import (
    LayoutUpdate,
    Letter,
    LetterLayout,
    LetterPublic,
    LetterRecord,
    LetterStatus,
    PrintJob,
    PrintJobPublic,
)
from putright.letters.rendering import UNBRANDED, LayoutError, render, verify
from putright.shared.api import ReadSessionDep, SessionDep
from putright.shared.events import LetterKind
from putright.shared.events.envelope import utc_now
from putright.shared.tenancy import CallerOrganisationDep, not_found

OrganisationDep = CallerOrganisationDep
SAMPLE = LetterFacts(reference="SAMPLE-1", resident_name="Sample", addressee_name="Sample")

router = APIRouter(prefix="/v1")


@router.get("/letters", response_model=list[LetterPublic])
async def list_letters(
    session: ReadSessionDep,
    organisation_id: OrganisationDep,
    complaint_id: UUID | None = None,
) -> list[Letter]:
    """A complaint's letters (or all of the organisation's), oldest first, with any block."""
    statement = select(Letter).where(col(Letter.organisation_id) == organisation_id)
    if complaint_id is not None:
        statement = statement.where(col(Letter.complaint_id) == complaint_id)
    return list((await session.exec(statement.order_by(col(Letter.created_at)))).all())


@router.get("/letters/{letter_id}", response_model=LetterRecord)
async def read_letter(
    letter_id: UUID, session: ReadSessionDep, organisation_id: OrganisationDep
) -> Letter:
    """One letter as kept in the correspondence record: what it said, as HTML and text."""
    return await _own_letter(session, letter_id, organisation_id)


@router.post("/letters/{letter_id}/resend", response_model=LetterPublic)
async def resend_letter(
    letter_id: UUID, session: SessionDep, organisation_id: OrganisationDep
) -> Letter:
    """Try a failed letter again from the start, with the same Message-ID."""
    letter = await _own_letter(session, letter_id, organisation_id)
    if letter.status != LetterStatus.FAILED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"status: is {letter.status}, not failed")
    letter.status = LetterStatus.PENDING
    letter.attempts = 0
    letter.next_attempt_at = None
    session.add(letter)
    return letter


@router.get("/print-queue", response_model=list[PrintJobPublic])
async def print_queue(session: ReadSessionDep, organisation_id: OrganisationDep) -> list[PrintJob]:
    """Letters to post, those not yet printed first."""
    statement = (
        select(PrintJob)
        .where(col(PrintJob.organisation_id) == organisation_id)
        .order_by(col(PrintJob.printed_at).is_not(None), col(PrintJob.queued_at))
    )
    return list((await session.exec(statement)).all())


@router.get("/print-queue/{letter_id}/pdf")
async def print_job_pdf(
    letter_id: UUID, session: ReadSessionDep, organisation_id: OrganisationDep
) -> Response:
    """The print-ready PDF of a posted letter."""
    job = await _own_print_job(session, letter_id, organisation_id)
    return Response(job.pdf, media_type="application/pdf")


@router.post("/print-queue/{letter_id}/printed", response_model=PrintJobPublic)
async def mark_printed(
    letter_id: UUID, session: SessionDep, organisation_id: OrganisationDep
) -> PrintJob:
    """Record that a posted letter has been printed and sent."""
    job = await _own_print_job(session, letter_id, organisation_id)
    job.printed_at = job.printed_at or utc_now()
    session.add(job)
    return job


@router.get("/letter-layout", response_model=LayoutUpdate)
async def read_layout(session: ReadSessionDep, organisation_id: OrganisationDep) -> LayoutUpdate:
    """The organisation's overrides of the layout's blocks."""
    layout = await session.get(LetterLayout, organisation_id)
    return LayoutUpdate(blocks=layout.blocks if layout else {})


@router.put("/letter-layout", response_model=LayoutUpdate)
async def replace_layout(
    update: LayoutUpdate, session: SessionDep, organisation_id: OrganisationDep
) -> LayoutUpdate:
    """Replace the organisation's block overrides, once a sample letter renders complete."""
    try:
        rendered = render(
            LetterKind.RECEIPT,
            SAMPLE,
            letterhead=UNBRANDED,
            written_on=utc_now().date(),
            layout=update.blocks,
        )
    except LayoutError as error:
        raise _invalid(error.block, error.message) from error
    except Exception as error:
        raise _invalid("*", f"the layout does not render: {error}") from error
    if missing := verify(LetterKind.RECEIPT, SAMPLE, rendered):
        raise _invalid("*", f"the layout hides required content: {', '.join(missing)}")
    await session.merge(LetterLayout(organisation_id=organisation_id, blocks=update.blocks))
    return update


def _invalid(block: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", "blocks", block), "msg": message, "type": "value_error"}]
    )


async def _own_letter(session: ReadSessionDep, letter_id: UUID, organisation_id: UUID) -> Letter:
    letter = await session.get(Letter, letter_id)
    if letter is None or letter.organisation_id != organisation_id:
        raise not_found("letter")
    return letter


async def _own_print_job(
    session: ReadSessionDep, letter_id: UUID, organisation_id: UUID
) -> PrintJob:
    job = await session.get(PrintJob, letter_id)
    if job is None or job.organisation_id != organisation_id:
        raise not_found("posted letter")
    return job
