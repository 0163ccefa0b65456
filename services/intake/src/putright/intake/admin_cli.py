"""The platform-admin command line: `python -m putright.intake admin ...`.

It writes through the same service functions as the admin API; events it stages in the
outbox are published by the running intake service's relay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any
from uuid import UUID

from putright.intake.auth import Scope
from putright.intake.models import metadata
from putright.intake.organisations import (
    ApiKeyCreate,
    ContractCreate,
    OrganisationCreate,
    agree_contract,
    create_organisation,
    issue_key,
    revoke_key,
)
from putright.intake.settings import IntakeSettings
from putright.shared.runtime import Runtime


def parser() -> argparse.ArgumentParser:
    """The `admin` sub-commands."""
    admin = argparse.ArgumentParser(prog="python -m putright.intake admin")
    commands = admin.add_subparsers(dest="command", required=True)
    organisation = commands.add_parser("create-organisation", help="register an organisation")
    organisation.add_argument("--name", required=True)
    organisation.add_argument("--kind", choices=["landlord", "contractor"], required=True)
    organisation.add_argument("--homes", type=int)
    organisation.add_argument("--complaints-email")
    organisation.add_argument("--slug")
    contract = commands.add_parser("create-contract", help="link a contractor to a landlord")
    contract.add_argument("--landlord", type=UUID, required=True)
    contract.add_argument("--contractor", type=UUID, required=True)
    contract.add_argument("--categories", required=True, help="comma-separated")
    contract.add_argument("--contractor-handles-stage1", action="store_true")
    key = commands.add_parser("create-key", help="issue an API key (shown once)")
    key.add_argument("--organisation", type=UUID, required=True)
    key.add_argument("--name", required=True)
    key.add_argument("--scopes", required=True, help="comma-separated: submit,handle,report,admin")
    revoke = commands.add_parser("revoke-key", help="revoke an API key")
    revoke.add_argument("key_id", type=UUID)
    return admin


async def run(arguments: argparse.Namespace, settings: IntakeSettings) -> dict[str, Any]:
    """Carry out one admin command; returns what to print."""
    runtime = Runtime("intake", settings, metadata)
    try:
        async with runtime.unit_of_work() as session:
            result: Any
            match arguments.command:
                case "create-organisation":
                    created = OrganisationCreate(
                        name=arguments.name,
                        kind=arguments.kind,
                        homes=arguments.homes,
                        complaints_email=arguments.complaints_email,
                        slug=arguments.slug,
                    )
                    result = await create_organisation(session, runtime, created=created)
                case "create-contract":
                    contract = ContractCreate(
                        landlord_id=arguments.landlord,
                        contractor_id=arguments.contractor,
                        categories=arguments.categories.split(","),
                        contractor_handles_stage1=arguments.contractor_handles_stage1,
                    )
                    result = await agree_contract(session, runtime, contract=contract)
                case "create-key":
                    key = ApiKeyCreate(
                        name=arguments.name,
                        scopes=[Scope(scope.strip()) for scope in arguments.scopes.split(",")],
                    )
                    result = await issue_key(
                        session, organisation_id=arguments.organisation, key=key
                    )
                case _:
                    result = await revoke_key(
                        session, organisation_id=None, key_id=arguments.key_id
                    )
        return dict(result.model_dump(mode="json"))
    finally:
        await runtime.engine.dispose()


def main(argv: list[str]) -> None:
    """Parse, run and print the result as JSON."""
    arguments = parser().parse_args(argv)
    result = asyncio.run(run(arguments, IntakeSettings()))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
