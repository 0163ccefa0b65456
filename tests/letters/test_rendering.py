"""Every letter kind renders with the Code's required items, and overrides cannot remove them."""

from __future__ import annotations

from datetime import date

import pytest
from jinja2.exceptions import SecurityError

from putright.letters.content import DECISIONS, Ombudsman, missing_before_rendering
from putright.letters.rendering import (
    UNBRANDED,
    LayoutError,
    Letterhead,
    Rendered,
    full_sections,
    landlord_html,
    quick_sections,
    render,
    verify,
    visible_sections,
)
from putright.shared.events import Branding, LetterKind
from putright.shared.events.values import Stage
from tests.letters.samples import LETTERS_AT_EACH_STAGE, facts, facts_for, response

WRITTEN_ON = date(2026, 11, 25)
OMBUDSMAN_DETAILS = [Ombudsman.phone, Ombudsman.email, Ombudsman.website, Ombudsman.post]


def rendered(kind: LetterKind, stage: Stage = Stage.ONE, **options: object) -> Rendered:
    return render(
        kind,
        facts_for(kind, stage),
        letterhead=options.pop("letterhead", UNBRANDED),  # type: ignore[arg-type]
        written_on=WRITTEN_ON,
        **options,  # type: ignore[arg-type]
    )


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("kind", "stage"), LETTERS_AT_EACH_STAGE)
def test_every_letter_renders_complete_in_html_and_text(kind: LetterKind, stage: Stage) -> None:
    letter = rendered(kind, stage)
    assert verify(kind, facts_for(kind, stage), letter) == []
    assert letter.html.startswith("<!doctype html>")
    assert "PR-2026-000123" in letter.subject
    for part in (letter.html, letter.text):
        assert "Dear Alex Resident," in part
        assert "PR-2026-000123" in part
        for detail in OMBUDSMAN_DETAILS:
            assert detail in part, f"{kind} lacks the Ombudsman's {detail}"


@pytest.mark.parametrize("stage", [Stage.ONE, Stage.TWO])
def test_stage_responses_carry_items_a_to_g(stage: Stage) -> None:
    kind = LetterKind.STAGE1_RESPONSE if stage is Stage.ONE else LetterKind.STAGE2_RESPONSE
    answer = response(stage)
    letter = rendered(kind, stage)
    for part in (flat(letter.html), flat(letter.text)):
        assert f"Stage {stage.value} of our complaints process" in part  # a
        assert answer.complaint_definition in part  # b
        assert DECISIONS[answer.decision] in part  # c
        assert answer.reasons in part  # d
        assert answer.remedies[0].description in part  # e
        assert "£85.50" in part
        assert "10 December 2026" in part
        assert answer.outstanding_actions[0].description in part  # f
        assert "15 January 2027" in part
        assert answer.how_to_escalate in part  # g
    if stage is Stage.ONE:
        assert "asking for stage 2" in letter.html
    else:
        assert "the Housing Ombudsman</h2>" in letter.html
    for item in "abcdefg":
        assert f'data-required="{item}"' in letter.html


def test_a_response_without_remedy_says_why_and_nothing_outstanding() -> None:
    answer = response(Stage.ONE, remedies=[], no_remedy_reason="We found no service failure.")
    letter_facts = facts(response=answer.model_copy(update={"outstanding_actions": []}))
    letter = render(
        LetterKind.STAGE1_RESPONSE, letter_facts, letterhead=UNBRANDED, written_on=WRITTEN_ON
    )
    assert verify(LetterKind.STAGE1_RESPONSE, letter_facts, letter) == []
    assert "We found no service failure." in letter.text
    assert "There is nothing left for us to do." in letter.text


@pytest.mark.parametrize(
    ("changes", "missing"),
    [
        ({"reasons": "   "}, "d: the reasons for the decision"),
        ({"complaint_definition": " "}, "b: the complaint definition"),
        ({"remedies": [], "no_remedy_reason": None}, "e: the remedy offered, or why there is none"),
        ({"how_to_escalate": "\n"}, "g: how to escalate to stage 2"),
        ({"stage": Stage.TWO}, "a: the complaint stage"),
    ],
)
def test_a_response_missing_an_item_is_blocked_naming_it(
    changes: dict[str, object], missing: str
) -> None:
    letter_facts = facts(response=response(Stage.ONE).model_copy(update=changes))
    assert missing_before_rendering(LetterKind.STAGE1_RESPONSE, letter_facts) == [missing]


def test_other_letters_missing_their_items_are_blocked() -> None:
    assert missing_before_rendering(LetterKind.EXTENSION, facts(reason=" ")) == [
        "the reasons for more time"
    ]
    assert missing_before_rendering(LetterKind.STAGE1_ACKNOWLEDGEMENT, facts(definition=None)) == [
        "the complaint definition",
        "the outcomes sought",
    ]
    assert missing_before_rendering(LetterKind.OUTSTANDING_ACTION_UPDATE, facts(action=None)) == [
        "the outstanding action and its date"
    ]


def test_verify_names_an_item_the_rendered_letter_does_not_show() -> None:
    kind = LetterKind.STAGE1_RESPONSE
    letter = rendered(kind)
    reasons = response(Stage.ONE).reasons
    tampered = Rendered(letter.subject, letter.html.replace(reasons, ""), letter.text)
    assert verify(kind, facts(), tampered) == ["d: the reasons for the decision"]
    no_text = Rendered(letter.subject, letter.html, letter.text.replace(Ombudsman.phone, ""))
    assert "the Housing Ombudsman's contact details" in verify(kind, facts(), no_text)


def test_only_visible_text_counts_for_a_section() -> None:
    html = (
        "<!doctype html><html><head><title>x</title><style>p > a { color: red }</style></head>"
        '<body><!-- <section data-required="a">commented</section> -->'
        '<section class="required" data-required="a"><p>Shown &amp; <b>bold</b><br/></p>'
        '<p hidden>not this</p><span style="display:none">nor this</span>'
        '<img alt="a > b" src="x.png"> <em>kept</em></section>'
        "<div data-required='b' class=x><P>Upper</P></div></body></html>"
    )
    assert visible_sections(html) == {"a": "shown & bold kept", "b": "upper"}


@pytest.mark.parametrize(("kind", "stage"), LETTERS_AT_EACH_STAGE)
def test_the_quick_read_of_a_letter_agrees_with_the_full_read(
    kind: LetterKind, stage: Stage
) -> None:
    html = rendered(kind, stage, layout={"footer": "<p>Registered &amp; regulated.</p>"}).html
    assert quick_sections(html) is not None, "an ordinary letter takes the quick read"
    assert quick_sections(html) == full_sections(html)


@pytest.mark.parametrize(
    "section",
    [
        '<section hidden data-required="a">text</section>',
        '<section data-required="a" style="display:none">text</section>',
        '<div hidden><section data-required="a">text</section></div>',
        '<section data-required="a"><span title="x>y" hidden>text</span></section>',
        '<section data-required="a"><!-- text --></section>',
        '<template><section data-required="a">text</section></template>',
    ],
)
def test_hidden_text_never_counts(section: str) -> None:
    html = f"<!doctype html><html><head></head><body>{section}</body></html>"
    assert visible_sections(html).get("a", "") == ""


def test_a_landlord_block_is_cleaned_the_same_every_time() -> None:
    first = landlord_html('<p onclick="x()">Hello</p><script>1</script>')
    assert first == "<p>Hello</p>"
    assert landlord_html('<p onclick="x()">Hello</p><script>1</script>') == first


def test_acknowledgement_carries_the_definition_outcomes_scope_and_date() -> None:
    letter = rendered(LetterKind.STAGE1_ACKNOWLEDGEMENT)
    for part in (letter.html, letter.text):
        assert "The boiler at 4 Elm Row has failed three times since September." in part
        assert "A working boiler and a refund of the heater running costs." in part
        assert "The broken fence next door" in part
        assert "9 December 2026" in part


def test_refusals_give_reasons_and_the_right_to_go_to_the_ombudsman() -> None:
    for kind in (LetterKind.REFUSAL, LetterKind.ESCALATION_REFUSAL):
        letter = rendered(kind)
        assert "Legal proceedings about this matter have started." in letter.text
        assert "You can ask the Housing Ombudsman to look at this decision." in letter.text


def test_extension_gives_the_new_date_and_reasons_at_either_stage() -> None:
    for stage in (Stage.ONE, Stage.TWO):
        letter = rendered(LetterKind.EXTENSION, stage)
        assert f"stage {stage.value} response" in letter.text
        assert "9 December 2026" in letter.text
        assert "manufacturer's engineer's report" in letter.text


def test_user_text_is_escaped_in_html() -> None:
    letter_facts = facts(addressee_name="<script>alert(1)</script>")
    letter = render(LetterKind.RECEIPT, letter_facts, letterhead=UNBRANDED, written_on=WRITTEN_ON)
    assert "<script>" not in letter.html
    assert "&lt;script&gt;" in letter.html


def test_large_print_enlarges_the_html() -> None:
    letter = render(
        LetterKind.RECEIPT, facts(large_print=True), letterhead=UNBRANDED, written_on=WRITTEN_ON
    )
    assert '<body class="large-print">' in letter.html
    assert "body.large-print { font-size: 18pt" in letter.html


def test_a_letter_to_a_representative_says_on_whose_behalf() -> None:
    letter_facts = facts(addressee_name="Cllr Morgan", on_behalf_of="Alex Resident")
    letter = render(LetterKind.RECEIPT, letter_facts, letterhead=UNBRANDED, written_on=WRITTEN_ON)
    assert "Dear Cllr Morgan," in letter.text
    assert "on behalf of Alex Resident" in letter.text


def test_the_landlords_profile_brands_the_letter() -> None:
    letterhead = Letterhead(
        name="Elmbridge Homes",
        address_lines=["1 Civic Way", "EL1 1AA"],
        phone="01234 567890",
        branding=Branding(
            primary_colour="#aa0000",
            signatory_name="Pat Jones",
            signatory_role="Complaints Manager",
            footer="Elmbridge Homes is a registered provider.",
        ),
    )
    letter = rendered(LetterKind.RECEIPT, letterhead=letterhead)
    assert "#aa0000" in letter.html
    for part in (letter.html, letter.text):
        assert "Pat Jones" in part
        assert "Complaints Manager" in part
        assert "1 Civic Way" in part
        assert "Elmbridge Homes is a registered provider." in part


def test_landlord_blocks_override_the_layout() -> None:
    layout = {
        "logo": '<img src="https://elmbridge.example/logo.png" alt="Elmbridge Homes">',
        "signatory": "<p>With best wishes,<br>{{ branding.signatory_name }}</p>",
        "footer": "<p>Registered in England, number 123.</p>",
        "colours": "h1, h2 { color: #006400; } .letterhead { border-bottom-color: #006400; }",
    }
    letter = rendered(LetterKind.STAGE1_RESPONSE, layout=layout)
    assert 'src="https://elmbridge.example/logo.png"' in letter.html
    assert "With best wishes" in letter.html
    assert "Registered in England, number 123." in letter.html
    assert "h1, h2 { color: #006400; }" in letter.html
    assert verify(LetterKind.STAGE1_RESPONSE, facts(), letter) == []


@pytest.mark.parametrize(
    "layout",
    [
        {"logo": "<!--"},
        {"logo": "<div hidden><template>"},
        {"footer": '<p style="display:none">'},
        {"signatory": "</section></main><main hidden>"},
        {"logo": "<script>document.body.innerHTML=''</script>"},
        {"colours": "section.required { display: none !important; color: #ffffff; }"},
        {"colours": "main { visibility: hidden } </style><style>main { display: none }"},
        {"colours": "* { color: #fff !important; background-color: #fff !important }"},
    ],
)
def test_landlord_overrides_cannot_remove_or_hide_required_content(
    layout: dict[str, str],
) -> None:
    kind = LetterKind.STAGE2_RESPONSE
    letter = rendered(kind, Stage.TWO, layout=layout)
    assert verify(kind, facts_for(kind), letter) == []
    assert "display: none" not in letter.html
    assert "<script" not in letter.html
    assert "<!--" not in letter.html
    assert "#fff !important" not in letter.html


@pytest.mark.parametrize(
    ("layout", "block"),
    [
        ({"content": "<p>Nothing to see</p>"}, "content"),
        ({"footer": "{% endblock %}{% block signatory %}"}, "footer"),
        ({"footer": "{% if %}"}, "footer"),
    ],
)
def test_an_override_outside_the_overridable_blocks_is_refused(
    layout: dict[str, str], block: str
) -> None:
    with pytest.raises(LayoutError) as refused:
        rendered(LetterKind.RECEIPT, layout=layout)
    assert refused.value.block == block


def test_an_override_cannot_escape_the_sandbox() -> None:
    with pytest.raises(SecurityError):
        rendered(LetterKind.RECEIPT, layout={"footer": "{{ ''.__class__.__mro__ }}"})


def test_the_sandbox_checks_each_attribute_of_a_type_it_has_seen() -> None:
    """The sandbox remembers its answer per type and attribute, not per type."""
    safe = {"footer": "<p>{{ letterhead.name.upper() }}</p>"}
    assert "YOUR LANDLORD" in rendered(LetterKind.RECEIPT, layout=safe).html
    with pytest.raises(SecurityError):
        rendered(LetterKind.RECEIPT, layout={"footer": "{{ letterhead.name.__class__ }}"})
    assert "YOUR LANDLORD" in rendered(LetterKind.RECEIPT, layout=safe).html
