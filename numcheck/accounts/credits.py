"""Credits: reserve at task creation, charge `success` at export, release the rest.

Every movement is a ledger row written in the same transaction as the change of state it
belongs to; (task, kind) is unique, so a retry or a crash can never reserve, charge or release
a task twice. Unlimited users get the same ledger rows (for usage figures) but no balance moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.states import LedgerKind
from numcheck.storage import db
from numcheck.storage.models import LedgerEntry, User, utcnow


@dataclass(frozen=True)
class Account:
    unlimited: bool
    balance: int
    reserved: int
    charged_this_month: int


def _metered(new_balance: ColumnElement[int]) -> ColumnElement[int]:
    """The balance moves only for metered users."""
    return case((User.credits_unlimited.is_(True), User.credit_balance), else_=new_balance)


MAX_CREDITS = 10**15  # far above any real balance, far below the 64-bit columns' limit


def parse_amount(text: str) -> int | None:
    """`unlimited` -> None, else a non-negative whole number."""
    if text.strip().lower() == "unlimited":
        return None
    try:
        amount = int(text)
    except ValueError:
        raise errors.InvalidRequest("Credits are a whole number or 'unlimited'.") from None
    if not 0 <= amount <= MAX_CREDITS:
        raise errors.InvalidRequest(f"Credits are between 0 and {MAX_CREDITS}.")
    return amount


def start(session: Session, user: User, default: int | None) -> None:
    """Give a new user the configured starting credits (None: unlimited)."""
    user.credits_unlimited = default is None
    user.credit_balance = default or 0
    user.credits_reserved = 0
    if default:
        session.add(LedgerEntry(user_id=user.id, kind=LedgerKind.GRANT, amount=default))


def reserve(session: Session, user_id: str, task_id: str, total: int) -> None:
    """Hold `total` credits for a new task; InsufficientCredits (nothing changed) when short."""
    held = db.rowcount(
        session.execute(
            update(User)
            .where(User.id == user_id)
            .where(User.credits_unlimited.is_(True) | (User.credit_balance >= total))
            .values(
                credit_balance=_metered(User.credit_balance - total),
                credits_reserved=User.credits_reserved + total,
            )
        )
    )
    if not held:
        available = session.scalar(select(User.credit_balance).where(User.id == user_id)) or 0
        raise errors.InsufficientCredits(
            f"This task needs {total} credits; {available} are available.",
            required=total,
            available=available,
        )
    session.add(
        LedgerEntry(user_id=user_id, task_id=task_id, kind=LedgerKind.RESERVE, amount=total)
    )


# A lookup is on a sign-up form's critical path: its two statements are built once and run on
# the session's connection, past the ORM (SQLAlchemy spends several times longer building and
# routing a statement through the ORM than SQLite takes to run it).
_USERS = User.metadata.tables[User.__tablename__]
_LEDGER = LedgerEntry.metadata.tables[LedgerEntry.__tablename__]
_CHARGE_NOW = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user"))
    .where(_USERS.c.credits_unlimited.is_(True) | (_USERS.c.credit_balance >= bindparam("amount")))
    .values(credit_balance=_metered(User.credit_balance - bindparam("amount")))
)
_RECORD_CHARGE = insert(_LEDGER).values(
    user_id=bindparam("user"), kind=LedgerKind.CHARGE, amount=bindparam("amount")
)


def charge_lookup(session: Session, user_id: str, amount: int) -> None:
    """Charge a real-time lookup's answers at once (it has no task to reserve for);
    InsufficientCredits, nothing charged, when short."""
    if amount == 0:
        return
    connection = session.connection()
    if not db.rowcount(connection.execute(_CHARGE_NOW, {"user": user_id, "amount": amount})):
        available = session.scalar(select(User.credit_balance).where(User.id == user_id)) or 0
        raise errors.InsufficientCredits(
            f"This lookup needs {amount} credits; {available} are available.",
            required=amount,
            available=available,
        )
    connection.execute(_RECORD_CHARGE, {"user": user_id, "amount": amount})


def _settle(session: Session, user_id: str, task_id: str, total: int, charged: int) -> None:
    released = total - charged
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            credits_reserved=User.credits_reserved - total,
            credit_balance=_metered(User.credit_balance + released),
        )
    )
    if charged:
        session.add(
            LedgerEntry(user_id=user_id, task_id=task_id, kind=LedgerKind.CHARGE, amount=charged)
        )
    session.add(
        LedgerEntry(user_id=user_id, task_id=task_id, kind=LedgerKind.RELEASE, amount=released)
    )


def charge_export(session: Session, user_id: str, task_id: str, total: int, success: int) -> None:
    """At export (in its transaction): charge the numbers that got an answer, release the rest."""
    _settle(session, user_id, task_id, total, success)


def release(session: Session, user_id: str, task_id: str, total: int) -> None:
    """A task that ends without export (cancelled, failed, expired) is charged nothing."""
    _settle(session, user_id, task_id, total, 0)


def grant(session: Session, user: User, amount: int) -> None:
    if user.credits_unlimited:
        raise errors.CreditsUnlimited(
            f"{user.name} is unlimited; use 'credits set {user.name} N' to give them a balance "
            "first."
        )
    balance = session.scalar(select(User.credit_balance).where(User.id == user.id)) or 0
    if not 0 < amount <= MAX_CREDITS - balance:
        raise errors.InvalidRequest(
            f"Grant a positive number of credits; a balance stays under {MAX_CREDITS}."
        )
    session.execute(
        update(User).where(User.id == user.id).values(credit_balance=User.credit_balance + amount)
    )
    session.add(LedgerEntry(user_id=user.id, kind=LedgerKind.GRANT, amount=amount))


def set_balance(session: Session, user: User, amount: int | None) -> None:
    """Make a user unlimited (None) or set their available balance to `amount`."""
    unlimited, balance = session.execute(
        select(User.credits_unlimited, User.credit_balance).where(User.id == user.id)
    ).one()
    delta = (amount or 0) - (0 if unlimited else balance)
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(credits_unlimited=amount is None, credit_balance=amount or 0)
    )
    session.add(LedgerEntry(user_id=user.id, kind=LedgerKind.SET, amount=delta))


def account(session: Session, user_id: str, now: datetime | None = None) -> Account:
    unlimited, balance, reserved = session.execute(
        select(User.credits_unlimited, User.credit_balance, User.credits_reserved).where(
            User.id == user_id
        )
    ).one()
    now = now or utcnow()
    month = datetime(now.year, now.month, 1, tzinfo=UTC)
    charged = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.user_id == user_id,
            LedgerEntry.kind == LedgerKind.CHARGE,
            LedgerEntry.created_at >= month,
        )
    )
    return Account(
        unlimited=unlimited,
        balance=balance,
        reserved=reserved,
        charged_this_month=int(charged or 0),
    )
