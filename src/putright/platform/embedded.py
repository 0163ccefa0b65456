"""Putright in one process: the default way to run it on a laptop.

The four services run unchanged — the same handlers, templates and projections — with
only their configuration changed: each keeps its tables in a SQLite file of its own,
and all four share one in-process event bus (FastStream's in-memory Kafka broker)
instead of Kafka. A local SMTP server keeps every letter for the inbox pages. State
lives in the data directory, so it survives a restart.

    python -m putright.platform.embedded [--data-dir DIR] [--simulate]

`--simulate` runs the clock fast (by default a day every ten seconds), so a visitor can
watch acknowledgement, response and escalation deadlines come due in a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from faststream.kafka import KafkaBroker, TestKafkaBroker

from putright.deadlines.app import create_app as create_deadlines
from putright.deadlines.settings import DeadlinesSettings
from putright.intake.app import create_app as create_intake
from putright.intake.settings import IntakeSettings
from putright.letters.app import create_app as create_letters
from putright.letters.settings import LettersSettings
from putright.platform.demo import DemoTenants, seed_demo
from putright.platform.inbox import MailStore, inbox_router, start_smtp
from putright.reporting.app import create_app as create_reporting
from putright.reporting.settings import ReportingSettings
from putright.shared.events.envelope import utc_now
from putright.shared.migrations import upgrade
from putright.shared.observability import configure_logging

SERVICES = ("intake", "deadlines", "letters", "reporting")
ORGANISATION_HEADER = b"x-putright-organisation"
KEY_COOKIE = "putright_key"


class SimulatedClock:
    """Wall-clock time, optionally running `speed` times faster from the moment it starts."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._started_at = utc_now()
        self._started = time.monotonic()

    def now(self) -> datetime:
        """The simulated current instant."""
        elapsed = (time.monotonic() - self._started) * self.speed
        return self._started_at + timedelta(seconds=elapsed)

    def __call__(self) -> datetime:
        return self.now()


@dataclass(frozen=True)
class Ports:
    """Where each part listens on loopback: consecutive ports from `base`."""

    base: int = 8000

    @property
    def intake(self) -> int:
        """The complaint form, and intake's API and docs."""
        return self.base

    @property
    def deadlines(self) -> int:
        """Deadlines' API."""
        return self.base + 1

    @property
    def letters(self) -> int:
        """Letters' API (the correspondence record)."""
        return self.base + 2

    @property
    def reporting(self) -> int:
        """Reporting's API, dashboard and reports."""
        return self.base + 3

    @property
    def inbox(self) -> int:
        """The demo mail inbox pages."""
        return self.base + 4

    @property
    def smtp(self) -> int:
        """The demo mail server letters sends to."""
        return self.base + 5


@dataclass
class Embedded:
    """The four services, the inbox, and the bus between them, ready to run."""

    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    clock: SimulatedClock = field(default_factory=SimulatedClock)
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.broker = KafkaBroker("in-process")
        self.admin_token = self._persistent_secret("admin-token")
        common: dict[str, Any] = {
            "kafka_bootstrap_servers": "in-process",
            "outbox_poll_seconds": 0.2,
        }
        self.apps: dict[str, FastAPI] = {
            "intake": create_intake(
                IntakeSettings(
                    database_url=self.database_url("intake"),
                    admin_token=self.admin_token,
                    form_secret=self._persistent_secret("form-secret"),
                    **common,
                ),
                clock=self.clock,
                broker=self.broker,
            ),
            "deadlines": create_deadlines(
                DeadlinesSettings(database_url=self.database_url("deadlines"), **common),
                time=self.clock,
                broker=self.broker,
            ),
            "letters": create_letters(
                LettersSettings(
                    database_url=self.database_url("letters"),
                    smtp_host=self.host,
                    smtp_port=self.ports.smtp,
                    # SQLite has no SKIP LOCKED: one sender loop, so no letter is claimed twice.
                    send_workers=1,
                    **common,
                ),
                clock=self.clock,
                broker=self.broker,
            ),
            "reporting": create_reporting(
                ReportingSettings(database_url=self.database_url("reporting"), **common),
                clock=self.clock,
                broker=self.broker,
            ),
        }
        self.mail = MailStore(self.data_dir / "inbox.db")
        for name in ("deadlines", "letters", "reporting"):
            self.apps[name].add_middleware(Ingress, resolve=self.organisation_of)
        self._known_keys: dict[str, UUID | None] = {}

    def database_url(self, service: str) -> str:
        """The SQLite file of one service."""
        return f"sqlite+aiosqlite:///{self.data_dir / service}.db"

    def _persistent_secret(self, name: str) -> str:
        path = self.data_dir / name
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    async def organisation_of(self, api_key: str) -> UUID | None:
        """Ask intake, as a cluster's ingress would, which organisation a key belongs to."""
        if api_key not in self._known_keys:
            transport = httpx.ASGITransport(app=self.apps["intake"])
            async with httpx.AsyncClient(transport=transport, base_url="http://intake") as intake:
                answer = await intake.get(
                    "/v1/organisation", headers={"Authorization": f"Bearer {api_key}"}
                )
            self._known_keys[api_key] = UUID(answer.json()["id"]) if answer.is_success else None
        return self._known_keys[api_key]

    def inbox_app(self) -> FastAPI:
        """The inbox pages, and a sign-in link that keeps an API key in a cookie."""
        app = FastAPI(title="Putright demo inbox")
        app.include_router(inbox_router(self.mail))

        @app.get("/sign-in", include_in_schema=False)
        async def sign_in(key: str, next: str = "/inbox") -> RedirectResponse:
            response = RedirectResponse(next if next.startswith("http://127.0.0.1") else "/inbox")
            response.set_cookie(KEY_COOKIE, key, httponly=True, samesite="lax")
            return response

        return app

    async def migrate(self) -> None:
        """Bring every service's SQLite file up to date."""
        for service in SERVICES:
            await upgrade(f"putright.{service}", url=self.database_url(service), schema=service)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[DemoTenants]:
        """Migrate, start the bus, the services and the mail server; seed the demo."""
        await self.migrate()
        smtp = start_smtp(self.mail, host=self.host, port=self.ports.smtp)
        try:
            async with TestKafkaBroker(self.broker), contextlib.AsyncExitStack() as stack:
                for app in self.apps.values():
                    await stack.enter_async_context(app.router.lifespan_context(app))
                yield await seed_demo(self.apps["intake"], self.admin_token, self.data_dir)
        finally:
            smtp.stop()

    async def serve(self) -> None:
        """Serve every part on its port until interrupted."""
        async with self.running() as tenants:
            servers = [
                uvicorn.Server(
                    uvicorn.Config(
                        app, host=self.host, port=port, lifespan="off", log_level="warning"
                    )
                )
                for app, port in (
                    (self.apps["intake"], self.ports.intake),
                    (self.apps["deadlines"], self.ports.deadlines),
                    (self.apps["letters"], self.ports.letters),
                    (self.apps["reporting"], self.ports.reporting),
                    (self.inbox_app(), self.ports.inbox),
                )
            ]
            sys.stdout.write(self.welcome(tenants))
            await asyncio.gather(*(server.serve() for server in servers))

    def welcome(self, tenants: DemoTenants) -> str:
        """What to open, and the keys to use."""
        base = f"http://{self.host}"
        dashboard = (
            f"{base}:{self.ports.reporting}/v1/organisations/{tenants.landlord_id}/dashboard"
        )
        return "\n".join(
            [
                "",
                "Putright is running (Ctrl-C stops it). Data: " + str(self.data_dir),
                f"  Complaint form:  {base}:{self.ports.intake}/complain/{tenants.landlord_slug}",
                f"  Intake API docs: {base}:{self.ports.intake}/docs",
                f"  Dashboard:       {base}:{self.ports.inbox}/sign-in?key={tenants.landlord_key}"
                f"&next={dashboard}",
                f"  Mail inbox:      {base}:{self.ports.inbox}/inbox",
                f"  Landlord API key ({tenants.landlord_name}):   {tenants.landlord_key}",
                f"  Contractor API key ({tenants.contractor_name}): {tenants.contractor_key}",
                f"  Admin token:     {self.admin_token}",
                "",
            ]
        )


class Ingress:
    """What a cluster's ingress does for the services behind it: authenticate the
    caller's API key (bearer header or the sign-in cookie) and pass on only the
    organisation it belongs to, never one the client claims."""

    def __init__(self, app: Any, resolve: Callable[[str], Awaitable[UUID | None]]) -> None:
        self.app = app
        self.resolve = resolve

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [
                (name, value) for name, value in scope["headers"] if name != ORGANISATION_HEADER
            ]
            key = _api_key(headers)
            organisation = await self.resolve(key) if key else None
            if organisation:
                headers.append((ORGANISATION_HEADER, str(organisation).encode()))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def _api_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization" and value.lower().startswith(b"bearer "):
            return value[7:].decode()
        if name == b"cookie":
            for part in value.decode().split(";"):
                cookie, _, content = part.strip().partition("=")
                if cookie == KEY_COOKIE:
                    return content
    return None


def main() -> None:
    """Parse the command line and run Putright in one process."""
    parser = argparse.ArgumentParser(prog="putright", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".local/demo"))
    parser.add_argument(
        "--port", type=int, default=8000, help="first of six consecutive ports (default 8000)"
    )
    parser.add_argument("--simulate", action="store_true", help="run the clock fast")
    parser.add_argument(
        "--seconds-per-day", type=float, default=10.0, help="with --simulate (default 10)"
    )
    arguments = parser.parse_args()
    speed = 86_400 / arguments.seconds_per_day if arguments.simulate else 1.0
    configure_logging("embedded", level="WARNING")
    embedded = Embedded(
        arguments.data_dir.resolve(), ports=Ports(arguments.port), clock=SimulatedClock(speed)
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(embedded.serve())


if __name__ == "__main__":
    main()
