"""A hand-built year of complaints for one landlord, as events, with its figures worked out
by hand below (not by the code under test).

Landlord "Example Council": 4,000 homes, England and Wales bank holidays, and one
closure day of its own, Friday 27 December 2024. Its contractor "Example Repairs"
handles stage 1 of 45 repairs complaints. Reporting year 2024/25 = 1 April 2024 to
31 March 2025. Bank holidays that matter: Fri 29 Mar 2024, Mon 1 Apr 2024, Mon 6 May,
Mon 27 May, Mon 26 Aug, Wed 25 and Thu 26 Dec 2024, Wed 1 Jan 2025.
"Nwd" below counts working days after the start day up to and including the end day.

Stage 1 complaints received in the year (local UK date of receipt decides):
  A1  75  received Mon 3 Jun 2024, ack Wed 5 Jun (2wd), responded Mon 17 Jun (8wd) on time
          (the first 45 are repairs handled by the contractor, the other 30 the landlord's)
  A2  74  received Mon 4 Nov 2024, ack Wed 6 Nov (2wd), responded Mon 18 Nov (8wd) on time
  I    1  received 31 Mar 2024 23:30 UTC = Mon 1 Apr 2024 00:30 BST (in the year), ack Wed
          3 Apr (2wd: 1 Apr is Easter Monday, the start day is never counted anyway),
          responded Tue 16 Apr (9wd) on time
  B   20  received Mon 1 Jul, ack Tue 9 Jul (6wd: late), responded Tue 16 Jul (5wd)
  C    8  received Mon 2 Sep, ack Tue 3 Sep (1wd), due Tue 17 Sep; extension of 5wd notified
          Fri 13 Sep (before the due date, within the 10wd limit) to Tue 24 Sep;
          responded Mon 23 Sep (14wd): late strictly, on time counting the extension
  D    4  received Mon 7 Oct, ack Tue 8 Oct (1wd), due Tue 22 Oct; extension of 15wd
          (beyond the limit) with a good reason, notified Mon 21 Oct, to Tue 12 Nov;
          responded Fri 8 Nov (23wd): late strictly, on time counting the extension
  E    4  as D but with no good reason recorded: late either way (default rule)
  F    4  received Thu 22 Aug, ack Fri 30 Aug (5wd, only because Mon 26 Aug is a bank
          holiday), responded Fri 13 Sep (10wd): on time
  G    4  received Mon 23 Dec, ack Fri 3 Jan 2025 (5wd: 24, 30, 31 Dec, 2, 3 Jan — the
          27th is the closure day), responded Fri 17 Jan (10wd): on time
  H    6  received Mon 3 Mar 2025, ack Tue 4 Mar, not yet responded
  ----
  200 → CH01(1) = 200 ÷ 4,000 × 1,000 = 50.0

Not counted in CH01(1):
  R    2  received Mon 3 Jun 2024 and refused Tue 4 Jun (one issue over twelve months,
          one legal proceedings)
  J    1  received 31 Mar 2025 23:30 UTC = Tue 1 Apr 2025 00:30 BST: next year
  K    3  received Thu 28 Mar 2024 (previous year), ack Tue 2 Apr (1wd: 29 Mar and 1 Apr
          are bank holidays), responded Fri 19 Apr 2024 (13wd): late, and responded in
          the year, so counted in CH02(1)
  P    2  received Mon 5 Feb 2024, ack Wed 7 Feb, responded Fri 16 Feb 2024 (all
          previous year; escalated, see S2e)

CH02(1): responses in the year = A1 75 + A2 74 + I 1 + B 20 + C 8 + D 4 + E 4 + F 4
  + G 4 + K 3 = 197.
  strict on time = A1 75 + A2 74 + I 1 + F 4 + G 4 = 158 → 158 ÷ 197 = 80.2%
  counting extensions (within limit, or beyond with a good reason) = 158 + C 8 + D 4
  = 170 → 170 ÷ 197 = 86.3%

Stage 2 (escalations from the landlord's own A1 complaints, and P):
  S2a 12  escalated Mon 1 Jul 2024, ack Wed 3 Jul (2wd), responded Wed 31 Jul (20wd)
  S2b  3  escalated Mon 1 Jul, ack Tue 9 Jul (6wd: late), responded Tue 30 Jul (15wd)
  S2c  2  escalated Mon 1 Jul, ack Wed 3 Jul, due Wed 31 Jul; extension of 10wd notified
          Mon 29 Jul to Wed 14 Aug; responded Mon 12 Aug (28wd)
  S2d  1  escalated Mon 24 Mar 2025, ack Wed 26 Mar, responded Wed 16 Apr 2025 (next year)
  S2f  2  escalated Mon 2 Dec 2024, ack Wed 4 Dec, not yet responded
  ---- 20 received in the year → CH01(2) = 20 ÷ 4,000 × 1,000 = 5.0
  S2e  2  (the P complaints) escalated Mon 18 Mar 2024, ack Wed 20 Mar (2wd), responded
          Fri 19 Apr 2024 (20wd, 29 Mar and 1 Apr being bank holidays): in CH02(2) only
  X    1  escalation requested Mon 1 Jul 2024, refused Tue 2 Jul (already considered)
CH02(2): responses in the year = S2a 12 + S2b 3 + S2c 2 + S2e 2 = 19
  strict = S2a 12 + S2e 2 = 14 → 73.7%; counting extensions = 14 + S2c 2 = 16 → 84.2%

Remedies (offered with the A1 responses on 17 Jun 2024): 10 financial remedies of
£50.00, 6 of them completed → £500.00 offered, £300.00 paid, 4 outstanding; and 20
apologies, all completed. Two of those responses promised an action due 1 Aug 2024:
one was done on 25 Jul, the other is still outstanding, so overdue.
Learning: 3 lessons recorded in the year.
Open on 10 Mar 2025 (clocks from the deadlines service): of H's six responses, three
were due Fri 7 Mar (overdue) and three are due Tue 11 Mar (due soon).
Stage 1 volumes by month (date received): Apr 2024 1, Jun 75, Jul 20, Aug 4, Sep 8,
Oct 8, Nov 74, Dec 4, Mar 2025 6.
The contractor's own stage 1: 45 received, all acknowledged and answered on time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from putright.shared.events import (
    ComplaintReceived,
    ComplaintRefused,
    EscalationRefused,
    EscalationRequested,
    Event,
    EventData,
    ExtensionNotified,
    LearningRecorded,
    OrganisationKind,
    OrganisationProfile,
    OutstandingActionCompleted,
    RemedyCompleted,
    Stage1Acknowledged,
    Stage1Responded,
    Stage2Acknowledged,
    Stage2Responded,
    new_event,
)
from putright.shared.events.deadlines import ClockStep, DeadlineSet
from putright.shared.events.organisations import ContractAgreed
from putright.shared.events.values import (
    Channel,
    ComplaintDefinition,
    Decision,
    ExclusionReason,
    Handler,
    OutstandingAction,
    Remedy,
    RemedyKind,
    Resident,
    Stage,
    StageResponse,
)

LONDON = ZoneInfo("Europe/London")
NAMESPACE = UUID("6f1c3a52-8d0e-4a57-9a34-0e3a51f0c001")


def local(day: date, hour: int = 10) -> datetime:
    """A UK local time on `day`."""
    return datetime.combine(day, time(hour), tzinfo=LONDON)


@dataclass
class Dataset:
    """Events for a set of organisations, built complaint by complaint."""

    seed: str
    events: list[Event[Any]] = field(default_factory=list)
    count: int = 0

    def id(self, name: str) -> UUID:
        """A deterministic id, different for each dataset seed."""
        return uuid5(NAMESPACE, f"{self.seed}:{name}")

    def emit(self, data: EventData, subject: UUID, organisation: UUID) -> None:
        """Append one event."""
        self.events.append(
            new_event(data, source="test", subject=subject, organisation_id=organisation)
        )

    def organisation(
        self, name: str, kind: OrganisationKind, homes: int | None, closures: list[date]
    ) -> UUID:
        """An organisation's profile."""
        organisation = self.id(name)
        self.emit(
            OrganisationProfile(name=name, kind=kind, homes=homes, closure_days=closures),
            organisation,
            organisation,
        )
        return organisation

    def complaint(
        self,
        landlord: UUID,
        received_at: datetime,
        *,
        handler: UUID | None = None,
        category: str = "anti-social behaviour",
    ) -> UUID:
        """A complaint received."""
        self.count += 1
        complaint = self.id(f"complaint-{self.count}")
        self.emit(
            ComplaintReceived(
                reference=f"C-{self.count:05d}",
                channel=Channel.WEB,
                received_at=received_at,
                description="Something went wrong.",
                category=category,
                handling_organisation_id=handler or landlord,
                resident=Resident(name=f"Resident {self.count}"),
            ),
            complaint,
            landlord,
        )
        return complaint

    def acknowledge(self, complaint: UUID, landlord: UUID, day: date, stage: int = 1) -> None:
        """Stage 1 or 2 acknowledged on `day`."""
        handler = Handler(organisation_id=landlord, staff_id=f"s{stage}", name="Officer")
        definition = ComplaintDefinition(summary="The issue.", outcomes_sought="A fix.")
        data: EventData = (
            Stage1Acknowledged(
                acknowledged_at=local(day),
                definition=definition,
                handler=handler,
                response_due_on=day,
            )
            if stage == 1
            else Stage2Acknowledged(
                acknowledged_at=local(day),
                definition=definition,
                handler=handler,
                response_due_on=day,
            )
        )
        self.emit(data, complaint, landlord)

    def extend(
        self,
        complaint: UUID,
        landlord: UUID,
        *,
        stage: int,
        notified: date,
        days: int,
        previous_due: date,
        new_due: date,
        good_reason: str | None = None,
    ) -> None:
        """An extension notified to the resident."""
        self.emit(
            ExtensionNotified(
                stage=Stage(stage),
                notified_at=local(notified),
                extension_working_days=days,
                previous_due_on=previous_due,
                new_due_on=new_due,
                reason="We need a contractor's report.",
                good_reason_beyond_limit=good_reason,
            ),
            complaint,
            landlord,
        )

    def respond(
        self,
        complaint: UUID,
        landlord: UUID,
        day: date,
        *,
        stage: int = 1,
        decision: Decision = Decision.UPHELD,
        remedies: list[Remedy] | None = None,
        actions: list[OutstandingAction] | None = None,
    ) -> None:
        """A stage response sent on `day`."""
        response = StageResponse(
            stage=Stage(stage),
            complaint_definition="The issue.",
            decision=decision,
            reasons="Because.",
            remedies=remedies or [],
            no_remedy_reason=None if remedies else "Nothing to put right.",
            outstanding_actions=actions or [],
            how_to_escalate="Ask us.",
        )
        handler = Handler(organisation_id=landlord, staff_id=f"r{stage}", name="Manager")
        data: EventData = (
            Stage1Responded(responded_at=local(day, 15), handler=handler, response=response)
            if stage == 1
            else Stage2Responded(responded_at=local(day, 15), handler=handler, response=response)
        )
        self.emit(data, complaint, landlord)

    def escalate(self, complaint: UUID, landlord: UUID, day: date) -> None:
        """The resident asked for stage 2 on `day`."""
        self.emit(
            EscalationRequested(requested_at=local(day), channel=Channel.PHONE),
            complaint,
            landlord,
        )


def d(text: str) -> date:
    """A date from ISO text, to keep the tables of dates short."""
    return date.fromisoformat(text)


@dataclass
class Council:
    """The built dataset and the ids a test needs."""

    data: Dataset
    landlord: UUID
    contractor: UUID
    other_landlord: UUID


def simple_stage1(
    data: Dataset,
    landlord: UUID,
    count: int,
    received: datetime,
    ack: date | None,
    responded: date | None,
    **options: Any,
) -> list[UUID]:
    """`count` complaints received, acknowledged and answered on the same days."""
    made = []
    for _ in range(count):
        complaint = data.complaint(landlord, received, **options)
        if ack:
            data.acknowledge(complaint, landlord, ack)
        if responded:
            data.respond(complaint, landlord, responded)
        made.append(complaint)
    return made


def example_council(seed: str) -> Council:
    """The year described in this module's docstring."""
    data = Dataset(seed)
    landlord = data.organisation(
        "Example Council", OrganisationKind.LANDLORD, 4000, [d("2024-12-27")]
    )
    contractor = data.organisation("Example Repairs", OrganisationKind.CONTRACTOR, None, [])
    other = data.organisation("Other Homes", OrganisationKind.LANDLORD, 900, [])
    data.emit(
        ContractAgreed(
            contract_id=data.id("contract"),
            landlord_id=landlord,
            contractor_id=contractor,
            categories=["repairs"],
            contractor_handles_stage1=True,
        ),
        landlord,
        landlord,
    )
    # The other landlord's one complaint must never show in Example Council's figures.
    simple_stage1(data, other, 1, local(d("2024-06-03")), d("2024-06-04"), d("2024-06-10"))

    # A1, with remedies on the landlord's 30: 10 financial (6 done), 20 apologies (all done).
    a1_contractor = simple_stage1(
        data,
        landlord,
        45,
        local(d("2024-06-03")),
        d("2024-06-05"),
        None,
        handler=contractor,
        category="repairs",
    )
    for complaint in a1_contractor:
        data.respond(complaint, landlord, d("2024-06-17"))
    a1_landlord = simple_stage1(data, landlord, 30, local(d("2024-06-03")), d("2024-06-05"), None)
    for index, complaint in enumerate(a1_landlord):
        kind = RemedyKind.FINANCIAL if index < 10 else RemedyKind.APOLOGY
        remedy = Remedy(
            remedy_id=data.id(f"remedy-{index}"),
            kind=kind,
            description="Putting it right.",
            compensation_gbp=Decimal("50.00") if kind is RemedyKind.FINANCIAL else None,
        )
        actions = [
            OutstandingAction(
                action_id=data.id(f"action-{index}"),
                description="Replace the fence.",
                due_on=d("2024-08-01"),
            )
        ]
        data.respond(
            complaint,
            landlord,
            d("2024-06-17"),
            remedies=[remedy],
            actions=actions if index < 2 else None,
        )
        if index == 1:
            data.emit(
                OutstandingActionCompleted(
                    action_id=data.id("action-1"), completed_at=local(d("2024-07-25"))
                ),
                complaint,
                landlord,
            )
        if index >= 4:
            data.emit(
                RemedyCompleted(remedy_id=remedy.remedy_id, completed_at=local(d("2024-07-01"))),
                complaint,
                landlord,
            )
    simple_stage1(
        data,
        landlord,
        74,
        local(d("2024-11-04")),
        d("2024-11-06"),
        d("2024-11-18"),
        category="repairs",
    )
    simple_stage1(
        data,
        landlord,
        1,
        datetime(2024, 3, 31, 23, 30, tzinfo=UTC),
        d("2024-04-03"),
        d("2024-04-16"),
    )
    simple_stage1(data, landlord, 20, local(d("2024-07-01")), d("2024-07-09"), d("2024-07-16"))
    for complaint in simple_stage1(
        data, landlord, 8, local(d("2024-09-02")), d("2024-09-03"), None
    ):
        data.extend(
            complaint,
            landlord,
            stage=1,
            notified=d("2024-09-13"),
            days=5,
            previous_due=d("2024-09-17"),
            new_due=d("2024-09-24"),
        )
        data.respond(complaint, landlord, d("2024-09-23"))
    for good_reason in ("A specialist survey is needed.", None):
        for complaint in simple_stage1(
            data, landlord, 4, local(d("2024-10-07")), d("2024-10-08"), None
        ):
            data.extend(
                complaint,
                landlord,
                stage=1,
                notified=d("2024-10-21"),
                days=15,
                previous_due=d("2024-10-22"),
                new_due=d("2024-11-12"),
                good_reason=good_reason,
            )
            data.respond(complaint, landlord, d("2024-11-08"))
    simple_stage1(data, landlord, 4, local(d("2024-08-22")), d("2024-08-30"), d("2024-09-13"))
    simple_stage1(data, landlord, 4, local(d("2024-12-23")), d("2025-01-03"), d("2025-01-17"))
    open_now = simple_stage1(data, landlord, 6, local(d("2025-03-03")), d("2025-03-04"), None)
    for index, complaint in enumerate(open_now):
        # Seen on 10 Mar 2025: three responses overdue (due Fri 7 Mar), three due soon
        # (Tue 11 Mar, within the 2-working-day warning window).
        due = d("2025-03-07") if index < 3 else d("2025-03-11")
        data.emit(
            DeadlineSet(
                clock_id=data.id(f"clock-{index}"),
                step=ClockStep.STAGE1_RESPONSE,
                stage=Stage.ONE,
                handling_organisation_id=landlord,
                due_on=due,
                starts_on=d("2025-03-04"),
                base_due_on=due,
            ),
            complaint,
            landlord,
        )

    # Not counted in CH01(1).
    for reason in (ExclusionReason.ISSUE_OVER_TWELVE_MONTHS, ExclusionReason.LEGAL_PROCEEDINGS):
        complaint = data.complaint(landlord, local(d("2024-06-03")))
        handler = Handler(organisation_id=landlord, staff_id="x", name="Officer")
        data.emit(
            ComplaintRefused(
                reason=reason,
                explanation="See the policy.",
                refused_at=local(d("2024-06-04")),
                decided_by=handler,
            ),
            complaint,
            landlord,
        )
    simple_stage1(data, landlord, 1, datetime(2025, 3, 31, 23, 30, tzinfo=UTC), None, None)
    simple_stage1(data, landlord, 3, local(d("2024-03-28")), d("2024-04-02"), d("2024-04-19"))
    prior = simple_stage1(
        data, landlord, 2, local(d("2024-02-05")), d("2024-02-07"), d("2024-02-16")
    )

    # Stage 2, from the landlord's own A1 complaints.
    escalated = iter(a1_landlord)
    stage2 = [
        (12, "2024-07-01", "2024-07-03", "2024-07-31"),
        (3, "2024-07-01", "2024-07-09", "2024-07-30"),
        (2, "2024-07-01", "2024-07-03", "2024-08-12"),
        (1, "2025-03-24", "2025-03-26", "2025-04-16"),
        (2, "2024-12-02", "2024-12-04", None),
    ]
    for count, requested, ack, responded in stage2:
        for _ in range(count):
            complaint = next(escalated)
            data.escalate(complaint, landlord, d(requested))
            data.acknowledge(complaint, landlord, d(ack), stage=2)
            if responded == "2024-08-12":
                data.extend(
                    complaint,
                    landlord,
                    stage=2,
                    notified=d("2024-07-29"),
                    days=10,
                    previous_due=d("2024-07-31"),
                    new_due=d("2024-08-14"),
                )
            if responded:
                data.respond(
                    complaint, landlord, d(responded), stage=2, decision=Decision.PARTLY_UPHELD
                )
    for complaint in prior:
        data.escalate(complaint, landlord, d("2024-03-18"))
        data.acknowledge(complaint, landlord, d("2024-03-20"), stage=2)
        data.respond(complaint, landlord, d("2024-04-19"), stage=2, decision=Decision.NOT_UPHELD)
    refused = next(escalated)
    data.escalate(refused, landlord, d("2024-07-01"))
    data.emit(
        EscalationRefused(
            reason=ExclusionReason.ALREADY_CONSIDERED,
            explanation="Already decided.",
            refused_at=local(d("2024-07-02")),
            decided_by=Handler(organisation_id=landlord, staff_id="y", name="Manager"),
        ),
        refused,
        landlord,
    )
    for index, lesson in enumerate(
        ("Book surveys sooner.", "Call back within a day.", "Check repairs on completion.")
    ):
        data.emit(
            LearningRecorded(
                learning_id=data.id(f"learning-{index}"),
                recorded_at=local(d("2024-09-30")),
                lesson=lesson,
                service_improvement="We changed the procedure.",
                service_area="repairs",
            ),
            a1_landlord[index],
            landlord,
        )
    return Council(data, landlord, contractor, other)


EXPECTED_TSM = {
    "s1_received": 200,
    "s2_received": 20,
    "s1_responded": 197,
    "s1_strict": 158,
    "s1_accepting": 170,
    "s2_responded": 19,
    "s2_strict": 14,
    "s2_accepting": 16,
    "homes": 4000,
    "ch01_stage1": 50.0,
    "ch01_stage2": 5.0,
    "ch02_stage1_strict": 80.2,
    "ch02_stage1_accepting": 86.3,
    "ch02_stage2_strict": 73.7,
    "ch02_stage2_accepting": 84.2,
}
EXPECTED_MONTHS = {
    "Apr 2024": 1,
    "Jun 2024": 75,
    "Jul 2024": 20,
    "Aug 2024": 4,
    "Sep 2024": 8,
    "Oct 2024": 8,
    "Nov 2024": 74,
    "Dec 2024": 4,
    "Mar 2025": 6,
}
