"""Rendering letters: Jinja2 in a sandbox, one layout, and a check of the Code's items.

A letter's content (which carries the Code's items) is rendered from its kind's template,
then set in the layout outside every block. A landlord overrides blocks of the layout
(logo, address, colours, signatory, footer) with its own Jinja source; what a block
renders passes through nh3 (HTML) or a colour-only CSS filter, so it cannot hide, cover
or comment out the content. `verify` then reads the rendered letter back and names any
required item it cannot see: such a letter is blocked, never sent.

Speed: templates are compiled once (no reload checks), a landlord's layout once per
distinct set of overrides, and the filters' output is remembered per input (the
landlord's blocks mostly render the same for every letter). `verify` reads the HTML in
one regular-expression pass rather than with `html.parser`, which is several times slower;
the HTML is ours or nh3's, so a tokenizer of well-formed tags is enough.
"""

from __future__ import annotations

import html as html_entities
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Any

import nh3
import tinycss2  # type: ignore[import-untyped]
from jinja2 import (
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateError,
    nodes,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict

from putright.letters.content import (
    ALL_OURS,
    DECISIONS,
    EXCLUSIONS,
    NOTHING_OUTSTANDING,
    OMBUDSMAN_RIGHT,
    LetterFacts,
    Ombudsman,
    RequiredItem,
    long_date,
    required_items,
    subject_of,
)
from putright.shared.events import Branding, LetterKind
from putright.shared.events.values import PostalAddress

OVERRIDABLE_BLOCKS = ("logo", "address", "colours", "signatory", "footer")
LANDLORD_TAGS = {"p", "br", "strong", "em", "b", "i", "small", "span", "div", "img", "a"}
LANDLORD_ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "a": {"href"}}
COLOUR_PROPERTIES = {
    "color",
    "background-color",
    "border-color",
    "border-top-color",
    "border-bottom-color",
    "border-left-color",
    "border-right-color",
}
CSS_VALUE_TOKENS = {"ident", "hash", "whitespace", "percentage", "number", "dimension", "literal"}
CSS_FUNCTIONS = {"rgb", "rgba", "hsl", "hsla"}
LEADS = {
    "any_time": (
        "You can contact the Housing Ombudsman Service at any point during your complaint "
        "for free, independent advice. It usually investigates only once our own process "
        "has finished, but it can help you and us reach a solution sooner."
    ),
    "decision": "The Housing Ombudsman Service is free and independent. You can contact it:",
    "final": (
        "If you are still unhappy after this final response, you can ask the Housing "
        "Ombudsman Service to investigate. It is free and independent."
    ),
    "waiting": (
        "If you are unhappy with how long this is taking, you can contact the Housing "
        "Ombudsman Service now: you do not have to wait for our response."
    ),
}


class Letterhead(BaseModel):
    """Who the letter is from: the landlord's name, contact details and branding."""

    model_config = ConfigDict(frozen=True)

    name: str
    address_lines: list[str] = []
    phone: str | None = None
    complaints_email: str | None = None
    branding: Branding = Branding()

    @classmethod
    def of(
        cls,
        *,
        name: str,
        postal_address: PostalAddress | None,
        phone: str | None,
        complaints_email: str | None,
        branding: Branding,
    ) -> Letterhead:
        """A letterhead from a landlord's profile."""
        lines = [*postal_address.lines, postal_address.postcode] if postal_address else []
        return cls(
            name=name,
            address_lines=lines,
            phone=phone,
            complaints_email=complaints_email,
            branding=branding,
        )


UNBRANDED = Letterhead(name="Your landlord")


@dataclass(frozen=True)
class Rendered:
    """A letter in both its forms."""

    subject: str
    html: str
    text: str


class LayoutError(ValueError):
    """A landlord's layout override is not acceptable; `block` names which one."""

    def __init__(self, block: str, message: str) -> None:
        super().__init__(f"{block}: {message}")
        self.block = block
        self.message = message


@lru_cache(maxsize=4096)
def landlord_html(value: str) -> Markup:
    """Keep a landlord block to a few harmless tags: no styles, scripts or comments."""
    cleaned = nh3.clean(
        str(value),
        tags=LANDLORD_TAGS,
        attributes=LANDLORD_ATTRIBUTES,
        url_schemes={"https", "http", "mailto", "data"},
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - nh3 has just sanitised it


@lru_cache(maxsize=1024)
def landlord_css(value: str) -> Markup:
    """Keep only colour declarations, without !important: restyle, never hide."""
    rules = []
    for rule in tinycss2.parse_stylesheet(str(value), skip_comments=True, skip_whitespace=True):
        if rule.type != "qualified-rule":
            continue
        selector = tinycss2.serialize(rule.prelude).strip()
        declarations = [
            f"{declaration.lower_name}: {tinycss2.serialize(declaration.value).strip()};"
            for declaration in tinycss2.parse_blocks_contents(
                rule.content, skip_comments=True, skip_whitespace=True
            )
            if declaration.type == "declaration" and _colour_only(declaration)
        ]
        if declarations and "<" not in selector and "{" not in selector:
            rules.append(f"{selector} {{ {' '.join(declarations)} }}")
    return Markup("\n".join(rules))  # noqa: S704 - built from allow-listed tokens only


def _colour_only(declaration: Any) -> bool:
    if declaration.lower_name not in COLOUR_PROPERTIES or declaration.important:
        return False
    for token in declaration.value:
        if token.type == "function":
            if token.lower_name not in CSS_FUNCTIONS:
                return False
        elif token.type not in CSS_VALUE_TOKENS or (token.type == "literal" and token.value != ","):
            return False
    return True


ENVIRONMENT_OPTIONS: dict[str, Any] = {
    "loader": PackageLoader("putright.letters", "templates"),
    "undefined": StrictUndefined,
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
    # Templates ship with the package: compile each once, never stat the files again.
    "auto_reload": False,
    "cache_size": -1,
}
# The HTML layout runs landlords' Jinja source (their blocks), so it renders in the
# sandbox. The letters' content and the plain-text layout are Putright's own templates
# only, so they render without the sandbox's check on every attribute (a third of the
# time they took); what the facts hold is data, escaped as before, never code.


class FlatGlobals(Environment):
    """Hands each template a plain copy of the globals rather than a ChainMap over them.

    Every render and every macro import walks the template's globals, and a ChainMap
    walk costs several times a dict's (about a tenth of a letter's rendering). The globals
    are all set below, before any template is loaded, and never change after."""

    def make_globals(self, d: Mapping[str, Any] | None) -> dict[str, Any]:
        """The environment's globals with the template's own on top."""
        return {**self.globals, **(d or {})}


class SandboxedFlatGlobals(FlatGlobals, SandboxedEnvironment):
    """The sandbox, with plain globals and its attribute check remembered.

    The sandbox's check of an attribute depends only on the object's type and the
    attribute's name (underscores, and the internals of functions, methods, types, frames
    and generators), so each pair is checked once: the check was a sixth of a letter's
    rendering. Every access still goes through the check's answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._safe_attributes: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """The sandbox's own answer for this type and attribute, remembered."""
        key = (type(obj), attr)
        safe = self._safe_attributes.get(key)
        if safe is None:
            safe = self._safe_attributes[key] = super().is_safe_attribute(obj, attr, value)
        return safe


environment = SandboxedFlatGlobals(
    autoescape=select_autoescape(["html"], default_for_string=True), **ENVIRONMENT_OPTIONS
)
trusted = FlatGlobals(
    autoescape=select_autoescape(["html"], default_for_string=True), **ENVIRONMENT_OPTIONS
)
for each in (environment, trusted):
    each.filters.update(long_date=long_date, landlord_html=landlord_html, landlord_css=landlord_css)
    each.globals.update(
        ombudsman=Ombudsman,
        decisions=DECISIONS,
        exclusions=EXCLUSIONS,
        nothing_outstanding=NOTHING_OUTSTANDING,
        all_ours=ALL_OURS,
        ombudsman_right=OMBUDSMAN_RIGHT,
        leads=LEADS,
    )


def layout_for(blocks: Mapping[str, str] | None) -> Template:
    """The layout a landlord's overrides make (the standard one when there are none)."""
    if not blocks:
        return environment.get_template("layout.html")
    return _compiled_layout(tuple(sorted(blocks.items())))


@lru_cache(maxsize=256)
def _compiled_layout(blocks: tuple[tuple[str, str], ...]) -> Template:
    for name, source in blocks:
        check_block(name, source)
    source = '{% extends "layout.html" %}' + "".join(
        f"{{% block {name} %}}{body}{{% endblock %}}" for name, body in blocks
    )
    return environment.from_string(source)


def check_block(name: str, source: str) -> None:
    """Refuse an override that is not an overridable block, or is not valid Jinja."""
    if name not in OVERRIDABLE_BLOCKS:
        allowed = ", ".join(OVERRIDABLE_BLOCKS)
        raise LayoutError(name, f"only these blocks can be changed: {allowed}")
    try:
        tree = environment.parse(source)
    except TemplateError as error:
        raise LayoutError(name, f"is not a valid template: {error}") from error
    if any(True for _ in tree.find_all((nodes.Block, nodes.Extends))):
        raise LayoutError(name, "must not define or extend blocks")


def render(
    kind: LetterKind,
    facts: LetterFacts,
    *,
    letterhead: Letterhead,
    written_on: date,
    layout: Mapping[str, str] | None = None,
) -> Rendered:
    """Render a letter as HTML and plain text in the landlord's layout."""
    subject = subject_of(kind, facts)
    context = {
        "facts": facts,
        "letterhead": letterhead,
        "branding": letterhead.branding,
        "written_on": written_on,
        "subject": subject,
    }
    content_html, content_text = _content_templates(kind)
    html = layout_for(layout).render(
        context,
        content=Markup(content_html.render(context)),  # noqa: S704
    )
    text = _text_layout().render(context, content=content_text.render(context).strip())
    return Rendered(subject=subject, html=html, text=_tidy(text))


# Three or more newlines, written so that the engine looks for a literal "\n\n\n"
# first: `\n{3,}` matched the same runs ten times slower (~20 µs a letter).
_BLANK_LINES = re.compile(r"\n\n\n+")


@cache
def _content_templates(kind: LetterKind) -> tuple[Template, Template]:
    """A kind's HTML and text content templates (looked up once, not per letter)."""
    return trusted.get_template(f"{kind.value}.html"), trusted.get_template(f"{kind.value}.txt")


@cache
def _text_layout() -> Template:
    return trusted.get_template("layout.txt")


def _tidy(text: str) -> str:
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"


def verify(kind: LetterKind, facts: LetterFacts, rendered: Rendered) -> list[str]:
    """Labels of required items that the rendered letter does not visibly carry."""
    sections = visible_sections(rendered.html)
    text = _normal(rendered.text)
    missing = []
    for item in required_items(kind, facts):
        seen_in_html = _carries(sections.get(item.key, ""), item)
        if item.blank or not seen_in_html or not _carries(text, item):
            missing.append(item.label)
    return missing


def _carries(haystack: str, item: RequiredItem) -> bool:
    return all(_normal_needle(text) in haystack for text in item.texts)


@lru_cache(maxsize=4096)
def _normal_needle(text: str) -> str:
    """A required text, normalised (remembered: most are the same in every letter)."""
    return _normal(text)


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


VOID_TAGS = frozenset({"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "wbr"})
INVISIBLE_TAGS = frozenset({"head", "style", "script", "template", "title"})
# Elements whose text is not HTML, with how each ends.
RAW_TEXT_ENDS = {tag: re.compile(f"</{tag}", re.IGNORECASE) for tag in ("style", "script")}
_TOKEN = re.compile(
    r"""<!--.*?(?:-->|\Z)"""  # a comment
    r"""|<(/?)([a-zA-Z][^\s/>]*)((?:[^>"']|"[^"]*"|'[^']*')*)>"""  # a start or end tag
    r"""|<[!?][^>]*>"""  # a doctype or processing instruction
    r"""|([^<]+|<)""",  # text
    re.DOTALL,
)
_ATTRIBUTE = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")


def visible_sections(html: str) -> dict[str, str]:
    """The visible text of each `data-required` section of the body, normalised.

    Text inside a hidden element (a `hidden` or `style` attribute, or the head) counts
    for no section; a section's text includes that of its nested sections' parents."""
    plain = quick_sections(html)
    return full_sections(html) if plain is None else plain


# A tag's inside, quoted attribute values included (written unrolled: it is much faster).
_TAG_INSIDE = r"""[^>"']*(?:(?:"[^"]*"|'[^']*')[^>"']*)*"""
# A section's inside up to its first end tag, unrolled like the tag's (`.*?` tried the
# end tag at every character: nearly three times slower).
_SECTION = re.compile(
    rf"""<section\b({_TAG_INSIDE})>([^<]*(?:<(?!/section>)[^<]*)*)</section>""",
    re.DOTALL | re.IGNORECASE,
)
_REQUIRED = re.compile(r'\sdata-required="([^"]+)"')
_HIDING = re.compile(r"\s(?:hidden|style)\b", re.IGNORECASE)
_ANY_TAG = re.compile(rf"<{_TAG_INSIDE}>")
_BODY = re.compile("<body", re.IGNORECASE)
# Anything in the body that could hide text, or that the fast path does not read.
_SUSPECT = re.compile(
    r"""<[a-zA-Z][^>"']*?(?:(?:"[^"]*"|'[^']*')[^>"']*?)*?\s(?:hidden|style|data-required)\b"""
    r"""|<(?:!--|(?:template|script|style|head|title)\b)""",
    re.IGNORECASE,
)
_NESTED = re.compile(r"<section\b", re.IGNORECASE)


def quick_sections(html: str) -> dict[str, str] | None:
    """The fast path, for a body with nothing hidden and only flat sections: each
    section's text with its tags taken out. None when the body needs a full read."""
    body_tag = _BODY.search(html)
    if body_tag is None:
        return None
    body = body_tag.start()
    sections: dict[str, list[str]] = {}
    position = body
    for section in _SECTION.finditer(html, body):
        if _SUSPECT.search(html, position, section.start()):
            return None
        attributes, inner = section.groups()
        if _HIDING.search(attributes) or _SUSPECT.search(inner) or _NESTED.search(inner):
            return None  # something hidden, or nested sections
        required = _REQUIRED.search(attributes)
        if required:
            sections.setdefault(required.group(1), []).append(_ANY_TAG.sub(" ", inner))
        position = section.end()
    if _SUSPECT.search(html, position):
        return None
    return {
        key: _normal(html_entities.unescape(" ".join(parts))) for key, parts in sections.items()
    }


def full_sections(html: str) -> dict[str, str]:
    """The full read: every tag in turn, tracking what is open and what is hidden."""
    sections: dict[str, list[str]] = {}
    # Each open element with the sections it is inside and whether it is hidden.
    open_elements: list[tuple[str, tuple[str, ...], bool]] = []
    keys: tuple[str, ...] = ()
    hidden = False
    position, end = 0, len(html)
    while position < end:
        token = _TOKEN.match(html, position)
        assert token is not None  # the last alternative matches any character
        position = token.end()
        closing, name, attributes, data = token.groups()
        if data is not None:
            if keys and not hidden:
                for key in keys:
                    sections.setdefault(key, []).append(data)
            continue
        if name is None:
            continue
        tag = name.lower()
        if closing:
            for index in range(len(open_elements) - 1, -1, -1):
                if open_elements[index][0] == tag:
                    del open_elements[index:]
                    _, keys, hidden = open_elements[-1] if open_elements else ("", (), False)
                    break
            continue
        if tag in RAW_TEXT_ENDS:  # its text is not HTML: skip to its end tag
            close = RAW_TEXT_ENDS[tag].search(html, position)
            position = close.start() if close else end
        if tag in VOID_TAGS or attributes.rstrip().endswith("/"):
            continue
        named = _attributes(attributes) if attributes.strip() else {}
        hidden = hidden or tag in INVISIBLE_TAGS or "hidden" in named or "style" in named
        required = named.get("data-required")
        if required:
            keys = (*keys, required)
        open_elements.append((tag, keys, hidden))
    return {
        key: _normal(html_entities.unescape(" ".join(parts))) for key, parts in sections.items()
    }


def _attributes(source: str) -> dict[str, str]:
    named: dict[str, str] = {}
    for attribute in _ATTRIBUTE.finditer(source):
        value = attribute.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        named.setdefault(attribute.group(1).lower(), html_entities.unescape(value))
    return named
