"""Webhooks: when a task with a callback_url ends, POST its status body there, signed.

`X-Numcheck-Signature: sha256=<hex>` is HMAC-SHA256, keyed with the owner's webhook secret
(GET /v1/account shows it), over `<X-Numcheck-Timestamp>.<body>`. Destinations that resolve to
private, loopback or link-local addresses are refused (at creation and again at each attempt,
on the addresses it connects to) unless the operator allows them.

A delivery (one row per task in webhook_deliveries) is
- owed in the transaction that ends its task (`owe`, called by the task lifecycle), once;
- attempted by one server at a time, which holds a lease on it (claimed with SELECT ... FOR
  UPDATE SKIP LOCKED) for longer than an attempt can last;
- then delivered, retried with backoff, or given up an hour after it was owed;
- purged, and its task's callback_url forgotten, once delivered or given up long enough ago.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import numcheck
from numcheck import errors
from numcheck.storage import db
from numcheck.storage.models import Task, User, WebhookDelivery, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import status
from numcheck.telemetry import metrics, tracing

# httpx (and the address checks and transport built on it) is imported where a webhook is
# checked or sent, in the API process: workers only record that one is owed, and importing
# httpx there costs ~25 MiB a worker (it brings rich and click along for its command line).

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=1)
MAX_BACKOFF_SECONDS = 300
# A lease outlasts an attempt's deadline by this much: resolving the host (which the deadline
# cannot interrupt) and recording the outcome happen under it too.
LEASE_MARGIN = timedelta(seconds=60)
PURGE_BATCH = 500


def check_callback_url(url: str, allow_private: bool) -> str:
    """The URL if it is a well-formed http(s) URL whose host resolves only to public addresses
    (or private ones are allowed); InvalidCallbackUrl otherwise."""
    from numcheck.tasks import webhook_addresses

    webhook_addresses.checked_addresses(webhook_addresses.parse(url), allow_private)
    return url


def webhook_secret(session: Session, user_id: str) -> str:
    """The user's signing secret, made on first use. Made once even when servers race: only a
    user still without one gets one, and everybody then reads the one that was stored."""
    secret = session.scalar(select(User.webhook_secret).where(User.id == user_id))
    if secret is None:
        session.execute(
            update(User)
            .where(User.id == user_id, User.webhook_secret.is_(None))
            .values(webhook_secret=secrets.token_hex(32))
        )
        secret = session.scalar(select(User.webhook_secret).where(User.id == user_id))
    assert secret is not None
    return secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Attempt:
    """A delivery leased for one attempt."""

    delivery_id: int
    task_id: str
    url: str
    body: bytes
    secret: str
    lease_token: str


def owe(session: Session, task: Task) -> None:
    """Owe the task's webhook, in the transaction that ends it (the task lifecycle calls this):
    its status body as it ended, to its callback_url, due now. Once per task: owing it again
    changes nothing (the task id is unique)."""
    if task.callback_url is None:
        return
    now = utcnow()
    session.execute(
        _insert_unless_owed(session),
        [
            {
                "task_id": task.id,
                "user_id": task.user_id,
                "url": task.callback_url,
                "body": json.dumps(status.status_body(task), separators=(",", ":")),
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
        ],
    )


def _insert_unless_owed(session: Session) -> Any:
    """INSERT ... ON CONFLICT (task_id) DO NOTHING, in the database's own dialect."""
    dialects = {"postgresql": postgresql, "sqlite": sqlite}
    dialect = dialects[session.get_bind().dialect.name]
    return dialect.insert(WebhookDelivery).on_conflict_do_nothing(index_elements=["task_id"])


def claim_due(session: Session, limit: int, lease: timedelta) -> list[Attempt]:
    """Lease up to `limit` due deliveries, the longest due first. Rows another server is
    claiming at this moment are skipped (SKIP LOCKED on PostgreSQL; SQLite has one writer)."""
    now = utcnow()
    due = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.gave_up_at.is_(None),
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    attempts = []
    for delivery in due:
        delivery.lease_token = secrets.token_hex(8)
        delivery.leased_until = now + lease
        attempts.append(
            Attempt(
                delivery_id=delivery.id,
                task_id=delivery.task_id,
                url=delivery.url,
                body=delivery.body.encode(),
                secret=webhook_secret(session, delivery.user_id),
                lease_token=delivery.lease_token,
            )
        )
    return attempts


def record(session: Session, attempt: Attempt, error: str | None) -> None:
    """Note an attempt's outcome (`error` None: delivered) and hand its lease back. A failure
    counts only while the lease is still this attempt's: once it expired, the server that took
    the delivery over schedules it."""
    delivery = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id).with_for_update()
    ).one_or_none()
    if delivery is None or delivery.delivered_at is not None:
        return
    if error is not None and delivery.lease_token != attempt.lease_token:
        return
    now = utcnow()
    delivery.attempts += 1
    delivery.lease_token = delivery.leased_until = None
    if error is None:
        delivery.delivered_at = now
        outcome = "delivered"
    elif now - delivery.created_at >= GIVE_UP_AFTER:
        outcome = "gave_up"
        delivery.gave_up_at, delivery.last_error = now, error[:200]
        log.warning("webhook given up task_id=%s attempts=%d", attempt.task_id, delivery.attempts)
    else:
        outcome = "retry"
        delivery.last_error = error[:200]
        delivery.next_attempt_at = now + timedelta(seconds=_backoff(delivery.attempts))
        log.info(
            "webhook attempt failed task_id=%s attempts=%d error=%s",
            attempt.task_id,
            delivery.attempts,
            error,
        )
    db.after_commit(session, metrics.WEBHOOK_DELIVERIES.labels(outcome).inc)


@tracing.traced("numcheck.webhook")
def deliver(stores: Stores, attempt: Attempt, ssl_context: ssl.SSLContext) -> str | None:
    """Make a leased attempt and record it; returns its error (None: delivered)."""
    settings = stores.settings
    try:
        error = send(
            attempt.url,
            attempt.body,
            attempt.secret,
            allow_private=settings.webhook_allow_private,
            timeout_seconds=settings.webhook_timeout_seconds,
            ssl_context=ssl_context,
        )
    except Exception as exc:  # our fault, not the receiver's: still an attempt, so it ends
        log.exception("webhook attempt failed unexpectedly task_id=%s", attempt.task_id)
        error = type(exc).__name__
    with stores.sessions.begin() as session:
        record(session, attempt, error)
    return error


def purge_finished(stores: Stores, older_than: timedelta) -> int:
    """Delete deliveries delivered or given up more than `older_than` ago; returns how many.

    Their tasks forget their callback_url in the same transaction: an ended task with a
    callback_url and no delivery is owed one, so without that a purged delivery would be sent
    again. Done in batches, each its own transaction.
    """
    cutoff = utcnow() - older_than
    finished = or_(WebhookDelivery.delivered_at < cutoff, WebhookDelivery.gave_up_at < cutoff)
    purged = 0
    while True:
        with stores.sessions.begin() as session:
            task_ids = session.scalars(
                select(WebhookDelivery.task_id).where(finished).limit(PURGE_BATCH)
            ).all()
            if not task_ids:
                break
            session.execute(
                update(Task).where(Task.id.in_(task_ids)).values(callback_url=None),
                execution_options={"synchronize_session": False},
            )
            session.execute(
                delete(WebhookDelivery).where(WebhookDelivery.task_id.in_(task_ids)),
                execution_options={"synchronize_session": False},
            )
        purged += len(task_ids)
        if len(task_ids) < PURGE_BATCH:
            break
    if purged:
        log.info("webhooks: purged %d finished deliveries", purged)
    return purged


def send(
    url: str,
    body: bytes,
    secret: str,
    *,
    allow_private: bool,
    timeout_seconds: float,
    ssl_context: ssl.SSLContext,
) -> str | None:
    """One signed attempt, over within `timeout_seconds` of its start: None when the receiver
    answered 2xx, else why not (kept as the delivery's last_error; never the URL or a secret).

    The host is resolved once, every address checked, and the connection made only to those
    addresses: a name that resolves elsewhere a moment later (DNS rebinding) cannot redirect it.
    """
    import httpx

    from numcheck.tasks import webhook_addresses, webhook_transport

    deadline = time.monotonic() + timeout_seconds
    try:
        target = webhook_addresses.parse(url)
        addresses = webhook_addresses.checked_addresses(target, allow_private)
        timestamp = str(int(time.time()))
        headers = {
            "User-Agent": f"numcheck/{numcheck.__version__}",
            "Content-Type": "application/json",
            "X-Numcheck-Timestamp": timestamp,
            "X-Numcheck-Signature": sign(secret, timestamp, body),
        }
        response = webhook_transport.post(
            url, addresses, body, headers, deadline=deadline, ssl_context=ssl_context
        )
    except errors.InvalidCallbackUrl as exc:
        return exc.message[:200]
    except httpx.HTTPError as exc:
        return type(exc).__name__
    return None if response.is_success else f"HTTP {response.status_code}"


class WebhookSender:
    """Delivers due webhooks from the API process: a loop that leases due
    deliveries about once a second (at once when an attempt ends), and up to
    NUMCHECK_WEBHOOK_CONCURRENCY attempts running side by side, so a slow receiver holds back
    only its own deliveries."""

    def __init__(self, stores: Stores, interval: float = 1.0) -> None:
        settings = stores.settings
        self._stores = stores
        self._interval = interval
        self._concurrency = settings.webhook_concurrency
        self._lease = timedelta(seconds=settings.webhook_timeout_seconds) + LEASE_MARGIN
        self._running = 0  # attempts under way; only the loop adds to it
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._attempts = ThreadPoolExecutor(self._concurrency, thread_name_prefix="webhook")
        self._loop = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._ssl_context: ssl.SSLContext | None = None

    def start(self) -> None:
        import httpx

        self._ssl_context = httpx.create_ssl_context()  # the CA bundle, loaded once
        self._loop.start()

    def stop(self) -> None:
        """Stop leasing; attempts under way finish (each within its deadline) and record."""
        self._stop.set()
        self._wake.set()
        self._loop.join(timeout=30)
        self._attempts.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._lease_due()
            except Exception:
                log.exception("webhook delivery round failed; retrying")
            self._wake.wait(self._interval)

    def _lease_due(self) -> None:
        with self._lock:
            free = self._concurrency - self._running
        if free <= 0:
            return
        with self._stores.sessions.begin() as session:
            claimed = claim_due(session, free, self._lease)
        for attempt in claimed:
            with self._lock:
                self._running += 1
            self._attempts.submit(self._attempt, attempt)

    def _attempt(self, attempt: Attempt) -> None:
        assert self._ssl_context is not None
        try:
            deliver(self._stores, attempt, self._ssl_context)
        except Exception:  # e.g. the database is down: the lease runs out and it is retried
            log.exception("webhook attempt not recorded task_id=%s", attempt.task_id)
        finally:
            with self._lock:
                self._running -= 1
            self._wake.set()  # a slot is free: lease the next due delivery now
