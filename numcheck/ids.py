"""Identifiers in the shapes the wire contract uses.

Task ids are xids, as the hosted service's are: 12 bytes — a 4-byte big-endian Unix time, a
3-byte machine id, a 2-byte process id and a 3-byte counter — as 20 characters of lowercase
base32hex. They sort by creation time, so the indexes they key stay local; nothing relies on them
being secret (every route scopes by owner, result links are signed).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import socket
import string
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

_ALPHANUMERIC = string.ascii_letters + string.digits
_COUNTER_MASK = 0xFFFFFF


def _machine_id() -> bytes:
    """3 bytes naming this machine: from /etc/machine-id where there is one, else the host name."""
    try:
        with open("/etc/machine-id", "rb") as handle:
            seed = handle.read().strip()
    except OSError:
        seed = b""
    return hashlib.md5(seed or socket.gethostname().encode(), usedforsecurity=False).digest()[:3]


class _XidSource:
    """Machine, process and a counter started at a random value, as the xid reference does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()
        # A forked child would repeat its parent's counter under the same pid bytes otherwise.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._machine = _machine_id()
        self._pid = (os.getpid() & 0xFFFF).to_bytes(2, "big")
        self._counter = itertools.count(secrets.randbelow(_COUNTER_MASK + 1))

    def new(self, now: float | None = None) -> bytes:
        with self._lock:
            count = next(self._counter) & _COUNTER_MASK
        seconds = int(time.time() if now is None else now) & 0xFFFFFFFF
        return seconds.to_bytes(4, "big") + self._machine + self._pid + count.to_bytes(3, "big")


_source = _XidSource()


def encode_xid(raw: bytes) -> str:
    """12 bytes as 20 characters of lowercase base32hex (RFC 4648 section 7, no padding)."""
    return base64.b32hexencode(raw).decode().rstrip("=").lower()


def new_task_id() -> str:
    """A fresh xid: `9m4e2mr0ui3e8a215n4g`."""
    return encode_xid(_source.new())


@dataclass(frozen=True)
class Xid:
    created_at: datetime
    machine: bytes
    pid: int
    counter: int


def decode_xid(text: str) -> Xid:
    """The parts of an xid; ValueError when `text` is not one."""
    if not is_task_id(text):
        raise ValueError("not an xid")
    raw = base64.b32hexdecode(text.upper() + "====")
    return Xid(
        created_at=datetime.fromtimestamp(int.from_bytes(raw[:4], "big"), UTC),
        machine=raw[4:7],
        pid=int.from_bytes(raw[7:9], "big"),
        counter=int.from_bytes(raw[9:12], "big"),
    )


_BASE32HEX = frozenset("0123456789abcdefghijklmnopqrstuv")


def is_task_id(text: str) -> bool:
    """Whether `text` has a task id's shape (anything else names no task, on any database)."""
    # 96 bits in 20 characters: the last one carries one bit and four zero bits ("0" or "g").
    return len(text) == 20 and set(text) <= _BASE32HEX and text[-1] in "0g"


def new_user_id() -> str:
    """20 random alphanumeric characters (opaque)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(20))
