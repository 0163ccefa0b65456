"""The web channel: each landlord's complaint form, server-rendered, working without JavaScript.

Errors are listed in a summary at the top (linked to their fields) and shown beside each
field, tied to it with `aria-describedby`, as GOV.UK-style accessible forms do. CSRF is
stopped by a signed, time-limited token in a hidden field (itsdangerous), which needs
no cookie and no script.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import select

from putright.intake.complaints import ComplaintSubmission, Context, ResidentDetails, receive
from putright.intake.directory import landlord_snapshot
from putright.intake.errors import NotFound
from putright.intake.models import Organisation
from putright.intake.settings import IntakeSettings
from putright.shared.calendar import local_date
from putright.shared.events import OrganisationKind, OrganisationProfile
from putright.shared.events.values import (
    HEADER_UNSAFE,
    Channel,
    ContactPreference,
    PostalAddress,
)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)

CATEGORIES = {
    "repairs": "Repairs and maintenance",
    "damp-and-mould": "Damp and mould",
    "anti-social-behaviour": "Anti-social behaviour",
    "rent-and-charges": "Rent and service charges",
    "staff": "How staff treated you",
    "neighbourhood": "Estates and neighbourhood",
    "other": "Something else",
}
FIELDS = (
    "name",
    "email",
    "phone",
    "address",
    "postcode",
    "contact_preference",
    "category",
    "description",
    "outcomes_sought",
    "issue_noticed_on",
    "reasonable_adjustments",
)


def _serializer(settings: IntakeSettings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.form_secret.get_secret_value(), salt="complaint-form")


async def _landlord(request: Request, slug: str) -> Organisation:
    async with request.app.state.runtime.sessions() as session:
        landlord = (
            await session.exec(
                select(Organisation).where(
                    Organisation.slug == slug, Organisation.kind == OrganisationKind.LANDLORD
                )
            )
        ).first()
    if landlord is None:
        raise NotFound("landlord")
    return landlord  # type: ignore[no-any-return]


def _render(
    request: Request,
    landlord: Organisation,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:
    settings: IntakeSettings = request.app.state.runtime.settings
    return templates.TemplateResponse(
        request,
        "complaint_form.html",
        {
            "landlord": OrganisationProfile.model_validate(landlord.profile),
            "slug": landlord.slug,
            "categories": CATEGORIES,
            "values": values,
            "errors": errors,
            "csrf_token": _serializer(settings).dumps(landlord.slug),
        },
        status_code=status_code,
    )


@router.get("/complain/{slug}", response_class=HTMLResponse)
async def complaint_form(request: Request, slug: str) -> HTMLResponse:
    """The blank form."""
    landlord = await _landlord(request, slug)
    return _render(request, landlord, values={"contact_preference": "email"}, errors={})


def _validate(values: dict[str, str], today: date) -> dict[str, str]:
    """Errors by field, in the order the fields appear, worded for residents."""
    errors: dict[str, str] = {}
    name = values["name"].strip()
    if not name:
        errors["name"] = "Enter your full name"
    elif len(name) > 200 or any(c in name for c in HEADER_UNSAFE):
        errors["name"] = "Your name must be 200 characters or fewer, on one line"
    if values["email"].strip():
        try:
            values["email"] = validate_email(
                values["email"].strip(), check_deliverability=False
            ).normalized
        except EmailNotValidError:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
    preference = values["contact_preference"]
    needed = {"email": "email", "phone": "phone", "post": "address"}
    if preference not in needed:
        errors["contact_preference"] = "Choose how you would like us to contact you"
    elif not values[needed[preference]].strip() and needed[preference] not in errors:
        errors[needed[preference]] = {
            "email": "Enter your email address so we can reply by email",
            "phone": "Enter your phone number so we can call you",
            "address": "Enter your address so we can reply by post",
        }[preference]
    if preference == "post" and not values["postcode"].strip():
        errors["postcode"] = "Enter your postcode so we can reply by post"
    if values["category"] not in CATEGORIES:
        errors["category"] = "Choose what your complaint is about"
    if not values["description"].strip():
        errors["description"] = "Tell us what went wrong"
    elif len(values["description"]) > 20_000:
        errors["description"] = "Your complaint must be 20,000 characters or fewer"
    if values["issue_noticed_on"].strip():
        try:
            noticed = date.fromisoformat(values["issue_noticed_on"].strip())
        except ValueError:
            errors["issue_noticed_on"] = "Enter a real date, for example 2026-03-27"
        else:
            if noticed > today:
                errors["issue_noticed_on"] = "The date must be today or in the past"
    return {field: errors[field] for field in FIELDS if field in errors}


def _submission(values: dict[str, str], landlord: Organisation) -> ComplaintSubmission:
    address_lines = [line.strip() for line in values["address"].splitlines() if line.strip()]
    adjustments = [line.strip() for line in values["reasonable_adjustments"].splitlines()]
    return ComplaintSubmission(
        organisation_id=landlord.id,
        channel=Channel.WEB,
        description=values["description"].strip(),
        category=values["category"],
        outcomes_sought=values["outcomes_sought"].strip() or None,
        issue_noticed_on=date.fromisoformat(values["issue_noticed_on"].strip())
        if values["issue_noticed_on"].strip()
        else None,
        resident=ResidentDetails(
            name=values["name"].strip(),
            email=values["email"].strip() or None,
            phone=values["phone"].strip() or None,
            address=PostalAddress(lines=address_lines[:6], postcode=values["postcode"].strip())
            if address_lines and values["postcode"].strip()
            else None,
            contact_preference=ContactPreference(values["contact_preference"]),
            reasonable_adjustments=[line for line in adjustments if line],
        ),
    )


@router.post("/complain/{slug}", response_class=HTMLResponse)
async def submit_complaint_form(
    request: Request,
    slug: str,
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    postcode: Annotated[str, Form()] = "",
    contact_preference: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    outcomes_sought: Annotated[str, Form()] = "",
    issue_noticed_on: Annotated[str, Form()] = "",
    reasonable_adjustments: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Check the form; show it again with errors, or log the complaint and show the reference."""
    landlord = await _landlord(request, slug)
    runtime = request.app.state.runtime
    values: dict[str, Any] = {
        "name": name,
        "email": email,
        "phone": phone[:40],
        "address": address[:1000],
        "postcode": postcode[:10],
        "contact_preference": contact_preference,
        "category": category,
        "description": description,
        "outcomes_sought": outcomes_sought[:5000],
        "issue_noticed_on": issue_noticed_on,
        "reasonable_adjustments": reasonable_adjustments[:5000],
    }
    try:
        token_ok = (
            _serializer(runtime.settings).loads(
                csrf_token, max_age=runtime.settings.form_token_max_age_seconds
            )
            == landlord.slug
        )
    except BadSignature:
        token_ok = False
    if not token_ok:
        errors = {"form": "This form has expired. Check your answers and send it again."}
        return _render(request, landlord, values=values, errors=errors, status_code=400)
    clock = request.app.state.clock
    errors = _validate(values, local_date(clock()))
    if errors:
        return _render(request, landlord, values=values, errors=errors, status_code=422)
    async with runtime.unit_of_work() as session:
        accepted = await receive(
            Context(session=session, runtime=runtime, clock=clock),
            landlord=await landlord_snapshot(session, landlord),
            submission=_submission(values, landlord),
        )
    return templates.TemplateResponse(
        request,
        "complaint_received.html",
        {
            "landlord": OrganisationProfile.model_validate(landlord.profile),
            "reference": accepted.reference,
        },
        status_code=201,
    )
