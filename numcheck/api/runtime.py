"""What the API process holds while it runs: stores, the link secret, the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from numcheck.storage.stores import Stores


class Waker(Protocol):
    def wake(self) -> None: ...


class _NoDispatcher:
    def wake(self) -> None:
        pass


@dataclass
class Runtime:
    stores: Stores
    link_secret: bytes
    dispatcher: Waker = _NoDispatcher()
