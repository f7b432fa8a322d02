"""Webhooks: when a task with a callback_url ends, POST its status body there, signed.

`X-Numcheck-Signature: sha256=<hex>` is HMAC-SHA256, keyed with the owner's webhook secret
(GET /v1/account shows it), over `<X-Numcheck-Timestamp>.<body>`. A delivery is retried with
backoff for up to an hour. Destinations that resolve to private, loopback or link-local
addresses are refused (at creation and again before each attempt) unless the operator allows
them.
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
from datetime import timedelta

import httpx
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.storage.models import Task, User, WebhookDelivery, utcnow
from numcheck.storage.stores import Stores
from numcheck.tasks import records, webhook_addresses, webhook_transport

log = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(hours=1)
MAX_BACKOFF_SECONDS = 300


def check_callback_url(url: str, allow_private: bool) -> str:
    """The URL if it is a well-formed http(s) URL whose host resolves only to public addresses
    (or private ones are allowed); InvalidCallbackUrl otherwise."""
    webhook_addresses.checked_addresses(webhook_addresses.parse(url), allow_private)
    return url


def webhook_secret(session: Session, user_id: str) -> str:
    """The user's signing secret, made on first use."""
    user = session.get_one(User, user_id)
    if user.webhook_secret is None:
        user.webhook_secret = secrets.token_hex(32)
    return user.webhook_secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _backoff(attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1))


def _enqueue_finished(session: Session) -> None:
    """A delivery for every ended task with a callback_url that has none yet."""
    owed = session.scalars(
        select(Task)
        .where(
            Task.callback_url.is_not(None),
            Task.status.in_(records.TERMINAL),
            ~exists().where(WebhookDelivery.task_id == Task.id),
        )
        .limit(100)
    )
    for task in owed:
        webhook_secret(session, task.user_id)
        session.add(
            WebhookDelivery(
                task_id=task.id,
                user_id=task.user_id,
                url=task.callback_url,
                body=json.dumps(records.status_body(task), separators=(",", ":")),
                attempts=0,
                next_attempt_at=utcnow(),
            )
        )


def deliver_due(stores: Stores, ssl_context: ssl.SSLContext) -> int:
    """Send every delivery that is due; returns how many were attempted."""
    with stores.sessions.begin() as session:
        _enqueue_finished(session)
    now = utcnow()
    with stores.sessions.begin() as session:
        due = [
            (d.id, d.url, d.body, d.user_id, d.created_at)
            for d in session.scalars(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.delivered_at.is_(None),
                    WebhookDelivery.gave_up_at.is_(None),
                    WebhookDelivery.next_attempt_at <= now,
                )
                .limit(50)
            )
        ]
        secrets_by_user = {user_id: webhook_secret(session, user_id) for _, _, _, user_id, _ in due}
    settings = stores.settings
    for delivery_id, url, body, user_id, created_at in due:
        error = send(
            url,
            body.encode(),
            secrets_by_user[user_id],
            allow_private=settings.webhook_allow_private,
            timeout_seconds=settings.webhook_timeout_seconds,
            ssl_context=ssl_context,
        )
        with stores.sessions.begin() as session:
            delivery = session.get_one(WebhookDelivery, delivery_id)
            delivery.attempts += 1
            if error is None:
                delivery.delivered_at = utcnow()
            elif utcnow() - created_at >= GIVE_UP_AFTER:
                delivery.gave_up_at, delivery.last_error = utcnow(), error
                log.warning(
                    "webhook given up task_id=%s attempts=%d", delivery.task_id, delivery.attempts
                )
            else:
                delivery.last_error = error
                delivery.next_attempt_at = utcnow() + timedelta(seconds=_backoff(delivery.attempts))
    return len(due)


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
    deadline = time.monotonic() + timeout_seconds
    try:
        target = webhook_addresses.parse(url)
        addresses = webhook_addresses.checked_addresses(target, allow_private)
        timestamp = str(int(time.time()))
        headers = {
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
    """A thread of the API process that delivers due webhooks about once a second."""

    def __init__(self, stores: Stores, interval: float = 1.0) -> None:
        self._stores = stores
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._stores.settings.webhook_timeout_seconds + 5)

    def _run(self) -> None:
        ssl_context = httpx.create_ssl_context()  # the CA bundle, loaded once
        while not self._stop.wait(self._interval):
            try:
                deliver_due(self._stores, ssl_context)
            except Exception:
                log.exception("webhook delivery round failed; retrying")
