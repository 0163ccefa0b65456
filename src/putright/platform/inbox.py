"""A local mail inbox for the embedded mode: an SMTP server that keeps every message,
and pages that show them, so a visitor can read the letters Putright sent.

Messages are kept in a SQLite file in the data directory, so they survive a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

pages = Environment(
    loader=PackageLoader("putright.platform", "templates"), autoescape=select_autoescape()
)


@dataclass(frozen=True)
class StoredMail:
    """One message as the inbox shows it."""

    id: int
    received_at: str
    sender: str
    recipients: str
    subject: str
    text: str
    html: str | None


class MailStore:
    """Messages in a SQLite file; tiny and synchronous, run off the event loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS mail (id INTEGER PRIMARY KEY,"
                " received_at TEXT DEFAULT CURRENT_TIMESTAMP,"
                " sender TEXT, recipients TEXT, raw BLOB)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def add(self, sender: str, recipients: list[str], raw: bytes) -> None:
        """Keep one message as it arrived."""
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO mail (sender, recipients, raw) VALUES (?, ?, ?)",
                (sender, ", ".join(recipients), raw),
            )

    def all(self) -> list[StoredMail]:
        """Every message, newest first."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT id, received_at, sender, recipients, raw FROM mail ORDER BY id DESC"
            ).fetchall()
        return [_parse(*row) for row in rows]

    def get(self, mail_id: int) -> StoredMail | None:
        """One message, if it exists."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT id, received_at, sender, recipients, raw FROM mail WHERE id = ?", (mail_id,)
            ).fetchone()
        return _parse(*row) if row else None


def _parse(mail_id: int, received_at: str, sender: str, recipients: str, raw: bytes) -> StoredMail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return StoredMail(
        id=mail_id,
        received_at=received_at,
        sender=sender,
        recipients=recipients,
        subject=str(message["Subject"] or ""),
        text=text_part.get_content() if text_part else "",
        html=html_part.get_content() if html_part else None,
    )


class _Keeper:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002
        await asyncio.to_thread(
            self.store.add, envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
        )
        return "250 Message accepted for delivery"


def start_smtp(store: MailStore, *, host: str, port: int) -> Controller:
    """Start the inbox's SMTP server in a background thread."""
    controller = Controller(_Keeper(store), hostname=host, port=port)
    controller.start()
    return controller


def inbox_router(store: MailStore) -> APIRouter:
    """The inbox pages: a list of messages, and one message at a time."""
    router = APIRouter(prefix="/inbox", tags=["inbox"])

    @router.get("", response_class=HTMLResponse)
    async def list_mail() -> str:
        mail = await asyncio.to_thread(store.all)
        return pages.get_template("inbox.html").render(mail=mail)

    @router.get("/{mail_id}", response_class=HTMLResponse)
    async def show_mail(mail_id: int) -> str:
        mail = await asyncio.to_thread(store.get, mail_id)
        if mail is None:
            raise HTTPException(404, "no such message")
        return pages.get_template("mail.html").render(mail=mail)

    return router
