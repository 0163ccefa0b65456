"""Sample facts and events for the letters tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from putright.letters.content import LetterFacts
from putright.shared.events import (
    Branding,
    ComplaintReceived,
    ComplaintRefused,
    DeadlineApproaching,
    DeadlineMissed,
    EscalationRefused,
    Event,
    EventData,
    ExtensionNotified,
    LetterKind,
    OrganisationKind,
    OrganisationProfile,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
    new_event,
)
from putright.shared.events.deadlines import ClockStep
from putright.shared.events.values import (
    Channel,
    ComplaintDefinition,
    Decision,
    ExclusionReason,
    Handler,
    NotResponsibleAspect,
    OutstandingAction,
    PostalAddress,
    Remedy,
    RemedyKind,
    Representative,
    Resident,
    Stage,
    StageResponse,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ACTION_ID = UUID("00000000-0000-4000-8000-00000000a001")
DEFINITION = ComplaintDefinition(
    summary="The boiler at 4 Elm Row has failed three times since September.",
    outcomes_sought="A working boiler and a refund of the heater running costs.",
    not_responsible_for=[
        NotResponsibleAspect(
            aspect="The broken fence next door",
            explanation="The fence belongs to the neighbouring owner-occupier.",
        )
    ],
)


def response(stage: Stage, **changes: Any) -> StageResponse:
    """A complete stage response (items a–g), with any fields changed."""
    fields: dict[str, Any] = {
        "stage": stage,
        "complaint_definition": "Repeated boiler failures and the cost of heaters.",
        "decision": Decision.PARTLY_UPHELD,
        "reasons": "Our contractor missed two appointments; the third repair was on time.",
        "remedies": [
            Remedy(
                remedy_id=uuid4(),
                kind=RemedyKind.FINANCIAL,
                description="We will refund the cost of running the heaters.",
                due_on=date(2026, 12, 10),
                compensation_gbp=Decimal("85.50"),
            )
        ],
        "outstanding_actions": [
            OutstandingAction(
                action_id=ACTION_ID,
                description="Replace the boiler with a new model",
                due_on=date(2027, 1, 15),
            )
        ],
        "how_to_escalate": (
            "Reply to this email or call us within 20 working days to ask for stage 2."
            if stage is Stage.ONE
            else "Contact the Housing Ombudsman within twelve months of this letter."
        ),
    }
    return StageResponse.model_validate(fields | changes)


def facts(**changes: Any) -> LetterFacts:
    """Facts rich enough for every kind of letter."""
    fields: dict[str, Any] = {
        "reference": "PR-2026-000123",
        "resident_name": "Alex Resident",
        "addressee_name": "Alex Resident",
        "stage": Stage.ONE,
        "definition": DEFINITION,
        "due_on": date(2026, 12, 9),
        "previous_due_on": date(2026, 12, 2),
        "reason": "We are waiting for the boiler manufacturer's engineer's report.",
        "exclusion": ExclusionReason.LEGAL_PROCEEDINGS,
        "response": response(Stage.ONE),
        "action": OutstandingAction(
            action_id=ACTION_ID, description="Replace the boiler", due_on=date(2027, 1, 15)
        ),
    }
    return LetterFacts.model_validate(fields | changes)


def facts_for(kind: LetterKind, stage: Stage = Stage.ONE) -> LetterFacts:
    """Facts for a letter of `kind` at `stage`."""
    if kind is LetterKind.STAGE2_RESPONSE:
        return facts(stage=Stage.TWO, response=response(Stage.TWO))
    return facts(stage=stage)


LETTERS_AT_EACH_STAGE = [
    (LetterKind.RECEIPT, Stage.ONE),
    (LetterKind.STAGE1_ACKNOWLEDGEMENT, Stage.ONE),
    (LetterKind.REFUSAL, Stage.ONE),
    (LetterKind.EXTENSION, Stage.ONE),
    (LetterKind.EXTENSION, Stage.TWO),
    (LetterKind.STAGE1_RESPONSE, Stage.ONE),
    (LetterKind.STAGE2_ACKNOWLEDGEMENT, Stage.TWO),
    (LetterKind.ESCALATION_REFUSAL, Stage.TWO),
    (LetterKind.STAGE2_RESPONSE, Stage.TWO),
    (LetterKind.OUTSTANDING_ACTION_UPDATE, Stage.ONE),
    (LetterKind.OUTSTANDING_ACTION_UPDATE, Stage.TWO),
    (LetterKind.LATE_RESPONSE_UPDATE, Stage.ONE),
    (LetterKind.LATE_RESPONSE_UPDATE, Stage.TWO),
]


# Events, as intake and deadlines publish them.

HANDLER = Handler(organisation_id=uuid4(), staff_id="s-1", name="Sam Handler")
OTHER_HANDLER = Handler(organisation_id=HANDLER.organisation_id, staff_id="s-2", name="Kim Lead")


def profile(**changes: Any) -> OrganisationProfile:
    """A landlord's profile with branding."""
    fields: dict[str, Any] = {
        "name": "Elmbridge Homes",
        "kind": OrganisationKind.LANDLORD,
        "sender_email": "complaints@elmbridge-homes.example",
        "complaints_email": "complaints@elmbridge-homes.example",
        "phone": "01234 567890",
        "postal_address": PostalAddress(lines=["1 Civic Way", "Elmbridge"], postcode="EL1 1AA"),
        "branding": Branding(signatory_name="Pat Jones", signatory_role="Complaints Manager"),
    }
    return OrganisationProfile.model_validate(fields | changes)


def resident(**changes: Any) -> Resident:
    """A resident who reads email."""
    fields: dict[str, Any] = {"name": "Alex Resident", "email": "alex@example.org"}
    return Resident.model_validate(fields | changes)


def received(
    reference: str, *, resident: Resident, representative: Representative | None = None
) -> ComplaintReceived:
    """A complaint received."""
    return ComplaintReceived(
        reference=reference,
        channel=Channel.WEB,
        received_at=NOW,
        description="The boiler keeps failing.",
        category="repairs",
        handling_organisation_id=HANDLER.organisation_id,
        resident=resident,
        representative=representative,
    )


def lifecycle() -> list[EventData]:
    """One complaint's events after receipt, through both stages, each calling for a letter."""
    return [
        Stage1Acknowledged(
            acknowledged_at=NOW,
            definition=DEFINITION,
            handler=HANDLER,
            response_due_on=date(2026, 12, 9),
        ),
        ExtensionNotified(
            stage=Stage.ONE,
            notified_at=NOW,
            extension_working_days=5,
            previous_due_on=date(2026, 12, 9),
            new_due_on=date(2026, 12, 16),
            reason="We are waiting for the manufacturer's report.",
        ),
        Stage1Responded(responded_at=NOW, handler=HANDLER, response=response(Stage.ONE)),
        Stage2Acknowledged(
            acknowledged_at=NOW,
            definition=DEFINITION,
            handler=OTHER_HANDLER,
            response_due_on=date(2027, 1, 20),
        ),
        Stage2Responded(responded_at=NOW, handler=OTHER_HANDLER, response=response(Stage.TWO)),
    ]


LIFECYCLE_KINDS = [
    LetterKind.STAGE1_ACKNOWLEDGEMENT,
    LetterKind.EXTENSION,
    LetterKind.STAGE1_RESPONSE,
    LetterKind.STAGE2_ACKNOWLEDGEMENT,
    LetterKind.STAGE2_RESPONSE,
]


def clock_event(
    kind: type[DeadlineMissed] | type[DeadlineApproaching], step: ClockStep, **extra: Any
) -> EventData:
    """A clock event from the deadlines service."""
    fields: dict[str, Any] = {
        "clock_id": uuid4(),
        "step": step,
        "handling_organisation_id": HANDLER.organisation_id,
        "due_on": date(2026, 12, 9),
    }
    if kind is DeadlineMissed:
        fields["missed_at"] = NOW
    else:
        fields["working_days_left"] = 2
    return kind.model_validate(fields | extra)


def refused() -> ComplaintRefused:
    """A refusal to accept a complaint."""
    return ComplaintRefused(
        reason=ExclusionReason.ALREADY_CONSIDERED,
        explanation="We answered this same complaint in March.",
        refused_at=NOW,
        decided_by=HANDLER,
    )


def escalation_refused() -> EscalationRefused:
    """A refusal to escalate to stage 2."""
    return EscalationRefused(
        reason=ExclusionReason.LEGAL_PROCEEDINGS,
        explanation="You have filed a claim at the county court about this.",
        refused_at=NOW,
        decided_by=HANDLER,
    )


def envelope(data: EventData, *, subject: UUID, organisation_id: UUID) -> Event[Any]:
    """An event as its publisher would send it."""
    return new_event(data, source="tests", subject=subject, organisation_id=organisation_id)
