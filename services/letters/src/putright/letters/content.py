"""What each letter must say: its facts, its subject, and the Code's required items.

Every letter kind lists the items the Code requires of it. An item names the texts that
must appear in it; a blank text means the item is missing, and the letter is blocked
before rendering. After rendering, `verify` checks each item again in the output, so
neither a template nor a landlord's layout can drop one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from putright.shared.events import LetterKind
from putright.shared.events.values import (
    ComplaintDefinition,
    Decision,
    ExclusionReason,
    OutstandingAction,
    PostalAddress,
    Stage,
    StageResponse,
)


class Ombudsman:
    """The Housing Ombudsman Service's public contact details."""

    name = "Housing Ombudsman Service"
    phone = "0300 111 3000"
    email = "info@housing-ombudsman.org.uk"
    website = "www.housing-ombudsman.org.uk"
    post = "Housing Ombudsman Service, PO Box 152, Liverpool, L33 7WQ"


DECISIONS = {
    Decision.UPHELD: "We uphold your complaint.",
    Decision.PARTLY_UPHELD: "We uphold part of your complaint.",
    Decision.NOT_UPHELD: "We do not uphold your complaint.",
}
EXCLUSIONS = {
    ExclusionReason.ISSUE_OVER_TWELVE_MONTHS: (
        "The problem happened, or you became aware of it, more than twelve months ago."
    ),
    ExclusionReason.LEGAL_PROCEEDINGS: "Legal proceedings about this matter have started.",
    ExclusionReason.ALREADY_CONSIDERED: (
        "We have already looked at this matter under our complaints policy."
    ),
}
OMBUDSMAN_RIGHT = "You can ask the Housing Ombudsman to look at this decision."
NOTHING_OUTSTANDING = "There is nothing left for us to do."
ALL_OURS = "Every part of your complaint is ours to answer."

SUBJECTS = {
    LetterKind.RECEIPT: "We have received your complaint ({reference})",
    LetterKind.STAGE1_ACKNOWLEDGEMENT: "Your complaint {reference}: what happens next",
    LetterKind.REFUSAL: "Your complaint {reference}: our decision on whether we can take it on",
    LetterKind.EXTENSION: "Your complaint {reference}: we need more time to reply",
    LetterKind.STAGE1_RESPONSE: "Your complaint {reference}: our stage 1 response",
    LetterKind.STAGE2_ACKNOWLEDGEMENT: "Your complaint {reference}: we will review it at stage 2",
    LetterKind.ESCALATION_REFUSAL: "Your complaint {reference}: your request for stage 2",
    LetterKind.STAGE2_RESPONSE: "Your complaint {reference}: our final response (stage 2)",
    LetterKind.OUTSTANDING_ACTION_UPDATE: (
        "Your complaint {reference}: an update on what we promised"
    ),
    LetterKind.LATE_RESPONSE_UPDATE: "Your complaint {reference}: an update on our reply",
}


@lru_cache(maxsize=4096)
def long_date(value: date) -> str:
    """A date as residents write it, e.g. 5 December 2026 (remembered: strftime is slow
    and a letter shows the same few dates)."""
    return f"{value.day} {value:%B %Y}"


class LetterFacts(BaseModel):
    """Everything a letter says that comes from the complaint's events."""

    model_config = ConfigDict(frozen=True)

    reference: str
    resident_name: str
    addressee_name: str
    on_behalf_of: str | None = None
    large_print: bool = False
    address: PostalAddress | None = None
    stage: Stage | None = None
    definition: ComplaintDefinition | None = None
    due_on: date | None = None
    previous_due_on: date | None = None
    reason: str | None = None
    exclusion: ExclusionReason | None = None
    response: StageResponse | None = None
    action: OutstandingAction | None = None
    overdue: bool = False
    update_interval_working_days: int | None = None


@dataclass(frozen=True)
class RequiredItem:
    """One thing the Code requires a letter to say, and the texts that show it is said."""

    key: str
    label: str
    texts: tuple[str, ...]

    @property
    def blank(self) -> bool:
        """Whether the facts lack this item (a text is empty or only spaces)."""
        return not self.texts or any(not text.strip() for text in self.texts)


def required_items(kind: LetterKind, facts: LetterFacts) -> list[RequiredItem]:
    """The items the Code requires in a letter of `kind`, filled from its facts."""
    items = [RequiredItem("reference", "the complaint reference", (facts.reference,))]
    if kind in (LetterKind.STAGE1_ACKNOWLEDGEMENT, LetterKind.STAGE2_ACKNOWLEDGEMENT):
        items += _definition_items(facts.definition)
        items.append(RequiredItem("due", "the date we will reply by", _date_texts(facts.due_on)))
    elif kind in (LetterKind.REFUSAL, LetterKind.ESCALATION_REFUSAL):
        items.append(RequiredItem("reasons", "the reasons for the decision", _refusal(facts)))
        items.append(RequiredItem("right", "the right to go to the Ombudsman", (OMBUDSMAN_RIGHT,)))
    elif kind is LetterKind.EXTENSION:
        items.append(RequiredItem("due", "the new reply date", _date_texts(facts.due_on)))
        items.append(RequiredItem("reasons", "the reasons for more time", (facts.reason or "",)))
    elif kind in (LetterKind.STAGE1_RESPONSE, LetterKind.STAGE2_RESPONSE):
        stage = Stage.ONE if kind is LetterKind.STAGE1_RESPONSE else Stage.TWO
        items += response_items(facts.response, stage)
    elif kind is LetterKind.OUTSTANDING_ACTION_UPDATE:
        action = facts.action
        texts = (action.description, long_date(action.due_on)) if action else ("",)
        items.append(RequiredItem("action", "the outstanding action and its date", texts))
    items.append(
        RequiredItem(
            "ombudsman",
            "the Housing Ombudsman's contact details",
            (Ombudsman.phone, Ombudsman.email, Ombudsman.website, Ombudsman.post),
        )
    )
    return items


def response_items(response: StageResponse | None, stage: Stage) -> list[RequiredItem]:
    """Items a–g of a stage response (6.9 at stage 1, 6.19 at stage 2)."""
    if response is None:
        return [RequiredItem(key, label, ()) for key, label in _response_labels(stage)]
    labels = dict(_response_labels(stage))
    remedies = tuple(remedy.description for remedy in response.remedies) or (
        response.no_remedy_reason or "",
    )
    actions = tuple(action.description for action in response.outstanding_actions) or (
        NOTHING_OUTSTANDING,
    )
    escalation: tuple[str, ...] = (response.how_to_escalate,)
    if stage is Stage.TWO:
        escalation += (Ombudsman.phone,)
    texts = {
        "a": (f"Stage {response.stage.value}",) if response.stage is stage else (),
        "b": (response.complaint_definition,),
        "c": (DECISIONS[response.decision],),
        "d": (response.reasons,),
        "e": remedies,
        "f": actions,
        "g": escalation,
    }
    return [RequiredItem(key, labels[key], texts[key]) for key in "abcdefg"]


def _response_labels(stage: Stage) -> list[tuple[str, str]]:
    return [
        ("a", "a: the complaint stage"),
        ("b", "b: the complaint definition"),
        ("c", "c: the decision on the complaint"),
        ("d", "d: the reasons for the decision"),
        ("e", "e: the remedy offered, or why there is none"),
        ("f", "f: any outstanding actions"),
        (
            "g",
            "g: how to escalate to stage 2"
            if stage is Stage.ONE
            else "g: how to escalate to the Housing Ombudsman",
        ),
    ]


def _definition_items(definition: ComplaintDefinition | None) -> list[RequiredItem]:
    if definition is None:
        return [
            RequiredItem("definition", "the complaint definition", ()),
            RequiredItem("outcomes", "the outcomes sought", ()),
        ]
    aspects = tuple(
        text
        for aspect in definition.not_responsible_for
        for text in (aspect.aspect, aspect.explanation)
    )
    return [
        RequiredItem("definition", "the complaint definition", (definition.summary,)),
        RequiredItem("outcomes", "the outcomes sought", (definition.outcomes_sought,)),
        RequiredItem("scope", "what we are not responsible for", aspects or (ALL_OURS,)),
    ]


def _date_texts(value: date | None) -> tuple[str, ...]:
    return (long_date(value),) if value else ()


def _refusal(facts: LetterFacts) -> tuple[str, ...]:
    if facts.exclusion is None:
        return ()
    return (EXCLUSIONS[facts.exclusion], facts.reason or "")


def missing_before_rendering(kind: LetterKind, facts: LetterFacts) -> list[str]:
    """Labels of the required items the facts leave blank."""
    return [item.label for item in required_items(kind, facts) if item.blank]


def subject_of(kind: LetterKind, facts: LetterFacts) -> str:
    """The email subject of a letter."""
    return SUBJECTS[kind].format(reference=facts.reference)
