"""The demo's tenants: a landlord and its repairs contractor, created once through
intake's admin API and remembered in the data directory (keys are shown only once)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

ALL_SCOPES = ["submit", "handle", "report", "admin"]


@dataclass(frozen=True)
class DemoTenants:
    """What a visitor needs to try Putright."""

    landlord_id: str
    landlord_name: str
    landlord_slug: str
    landlord_key: str
    contractor_id: str
    contractor_name: str
    contractor_key: str


async def seed_demo(intake: FastAPI, admin_token: str, data_dir: Path) -> DemoTenants:
    """Create the demo landlord, contractor, contract and keys, unless they exist."""
    remembered = data_dir / "demo-tenants.json"
    if remembered.exists():
        return DemoTenants(**json.loads(remembered.read_text()))
    transport = httpx.ASGITransport(app=intake)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://intake", headers={"X-Admin-Token": admin_token}
    ) as admin:
        landlord = await _created(
            admin,
            "/v1/admin/organisations",
            {
                "name": "Demo Borough Council",
                "kind": "landlord",
                "slug": "demo-borough",
                "homes": 12_000,
                "sender_email": "complaints@demo-borough.example",
                "complaints_email": "complaints@demo-borough.example",
                "phone": "01234 567890",
            },
        )
        contractor = await _created(
            admin,
            "/v1/admin/organisations",
            {"name": "Demo Repairs Ltd", "kind": "contractor", "slug": "demo-repairs"},
        )
        await _created(
            admin,
            "/v1/admin/contracts",
            {
                "landlord_id": landlord["id"],
                "contractor_id": contractor["id"],
                "categories": ["repairs"],
                "contractor_handles_stage1": True,
            },
        )
        keys = [
            await _created(
                admin,
                f"/v1/admin/organisations/{organisation['id']}/api-keys",
                {"name": "demo", "scopes": ALL_SCOPES},
            )
            for organisation in (landlord, contractor)
        ]
    tenants = DemoTenants(
        landlord_id=landlord["id"],
        landlord_name=landlord["profile"]["name"],
        landlord_slug=landlord["slug"],
        landlord_key=keys[0]["token"],
        contractor_id=contractor["id"],
        contractor_name=contractor["profile"]["name"],
        contractor_key=keys[1]["token"],
    )
    remembered.write_text(json.dumps(asdict(tenants), indent=2))
    remembered.chmod(0o600)
    return tenants


async def _created(admin: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await admin.post(path, json=body)
    if response.status_code != 201:
        raise RuntimeError(f"seeding the demo failed at {path}: {response.text}")
    created: dict[str, Any] = response.json()
    return created
