"""A Hypothesis state machine over the real task code and a real SQLite database: whatever mix of
creations, chunk runs, redelivered chunks, crashes, cancellations and top-ups happens, credits
stay exact — balance never negative, charged == success of exported tasks, one charge a task."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from numcheck import errors
from numcheck.accounts import credits, users
from numcheck.config import Settings
from numcheck.states import ACTIVE, LedgerKind, TaskStatus
from numcheck.storage import db
from numcheck.storage.models import LedgerEntry, Task, User
from numcheck.storage.stores import Stores
from numcheck.tasks import intake, jobs, queries
from numcheck.tasks.context import WorkerContext
from numcheck.tasks.jobs import Job
from numcheck.tasks.leases import Leases

START = 60


class Billing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.stores = Stores.open(
            Settings(data_dir=Path(self.tmp.name), chunk_lines=4, chunk_max_attempts=100)
        )
        db.upgrade(self.stores.engine)
        with self.stores.sessions.begin() as session:
            user = users.get_or_create(session, "payer", actor="test", default_credits=START)
            self.user_id = user.id
        self.given = START
        self.context = WorkerContext.of(self.stores)
        self.leases = Leases(self.stores, self.context.lifecycle)
        self.done_jobs: list[Job] = []

    def teardown(self) -> None:
        self.stores.close()
        self.tmp.cleanup()

    def _user(self, session) -> User:  # type: ignore[no-untyped-def]
        return session.get_one(User, self.user_id)

    @rule(lines=st.integers(min_value=1, max_value=25), bad=st.integers(min_value=0, max_value=3))
    def create(self, lines: int, bad: int) -> None:
        content = ("+12025550101\n" * lines + "junk\n" * bad).encode()
        limits = intake.Limits(10_000, 10_000, 100, self.stores.settings.chunk_lines)
        upload = intake.PendingUpload(self.stores.blobs, limits)
        upload.feed(content)
        with self.stores.sessions() as session:
            before = session.scalar(select(func.count()).select_from(Task))
            try:
                intake.create(
                    session, self._user(session), upload, "validate", None, max_active_tasks=1000
                )
                session.commit()
            except errors.InsufficientCredits:
                session.rollback()
                upload.discard()
                assert session.scalar(select(func.count()).select_from(Task)) == before

    @rule()
    def run_one_job(self) -> None:
        for job in self.leases.claim(1):
            jobs.run(self.context, job)
            self.done_jobs.append(job)

    @precondition(lambda self: self.done_jobs)
    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def redeliver(self, pick: int) -> None:
        """A message delivered again after its work was done (or while it was)."""
        jobs.run(self.context, self.done_jobs[pick % len(self.done_jobs)])

    @rule()
    def crash_and_restart(self) -> None:
        """Leases held by dead workers are dropped; their work is claimed again."""
        self.leases.free_all()

    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def cancel(self, pick: int) -> None:
        # Draws never depend on the state (task ids are random): pick by position.
        with self.stores.sessions.begin() as session:
            ids = list(session.scalars(select(Task.id).order_by(Task.created_at, Task.id)))
            if not ids:
                return
            task = queries.get_owned(session, self.user_id, ids[pick % len(ids)], for_update=True)
            self.context.lifecycle.stop(session, task, by="its owner")

    @rule(amount=st.integers(min_value=1, max_value=30))
    def top_up(self, amount: int) -> None:
        with self.stores.sessions.begin() as session:
            credits.grant(session, self._user(session), amount)
        self.given += amount

    @rule()
    def finish_everything(self) -> None:
        for _ in range(200):
            claimed = self.leases.claim(10)
            if not claimed:
                return
            for job in claimed:
                jobs.run(self.context, job)
                self.done_jobs.append(job)

    @invariant()
    def credits_are_exact(self) -> None:
        with self.stores.sessions() as session:
            user = self._user(session)
            assert user.credit_balance >= 0
            sums = dict(
                session.execute(
                    select(LedgerEntry.kind, func.sum(LedgerEntry.amount)).group_by(
                        LedgerEntry.kind
                    )
                ).all()
            )
            # Exported tasks, and exported ones whose owner deleted the files since (expired).
            exported_success = session.scalar(
                select(func.coalesce(func.sum(Task.success), 0)).where(
                    Task.status.in_((TaskStatus.EXPORTED, TaskStatus.EXPIRED))
                )
            )
            assert sums.get(LedgerKind.CHARGE, 0) == exported_success
            active_total = session.scalar(
                select(func.coalesce(func.sum(Task.total), 0)).where(Task.status.in_(ACTIVE))
            )
            assert user.credits_reserved == active_total
            charged = sums.get(LedgerKind.CHARGE, 0)
            assert user.credit_balance + user.credits_reserved == self.given - charged
            per_task = session.execute(
                select(LedgerEntry.task_id, LedgerEntry.kind, func.count())
                .where(LedgerEntry.task_id.is_not(None))
                .group_by(LedgerEntry.task_id, LedgerEntry.kind)
            ).all()
            assert all(count == 1 for _, _, count in per_task)


Billing.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestBilling = Billing.TestCase
