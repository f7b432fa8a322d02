"""The audit log: key created or revoked, credits granted or set, registry loaded, granted,
revoked or deleted, task cancelled by an admin. Who, what, when — never a key or a number."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from numcheck.storage.models import AuditEntry


def cli_actor() -> str:
    """The actor of a command run on the server: the operating-system user."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def record(session: Session, actor: str, action: str, target: str, **details: object) -> None:
    """Add an entry in the caller's transaction (so it commits with what it describes)."""
    session.add(
        AuditEntry(
            actor=actor[:120],
            action=action,
            target=target[:120],
            details=json.dumps(details, sort_keys=True) if details else None,
        )
    )


def recent(session: Session, limit: int = 100) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))


class _LoadReport(Protocol):
    name: str
    version: int
    mode: str
    entries: int


def registry_loaded(actor: str) -> Callable[[Session, _LoadReport], None]:
    """The audit entry of a registry load, to be written in the load's own transaction."""

    def record_load(session: Session, report: _LoadReport) -> None:
        record(
            session,
            actor,
            "registry.loaded",
            report.name,
            version=report.version,
            mode=report.mode,
            entries=report.entries,
        )

    return record_load
