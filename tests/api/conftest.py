"""The API in process: the real application, lifespan included, on a real SQLite data dir,
driven through Starlette's TestClient (httpx over an in-process ASGI transport) — for route
guards and the error table, which need no separate server process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from numcheck.accounts import audit
from numcheck.api.app import create_app
from numcheck.api.runtime import Runtime
from numcheck.config import Settings
from numcheck.services import accounts


@dataclass
class InProcess:
    """An application instance and an HTTP client of it."""

    settings: Settings
    http: TestClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.http.app.state.runtime  # type: ignore[attr-defined]
        return runtime

    @property
    def admin_key(self) -> str:
        return (self.settings.data_dir / "admin-key.txt").read_text().strip()

    def create_key(self, user: str, *, admin: bool = False) -> str:
        with self.runtime.stores.sessions.begin() as session:
            owner = accounts.create_user(
                session, user, actor=audit.cli_actor(), admin=admin, default_credits=None
            )
            return accounts.create_key(session, owner, actor=audit.cli_actor()).plaintext

    def client(self, key: str | None = None) -> TestClient:
        """A client of the same running app sending `key` (or no key) with every request."""
        headers = {"X-API-Key": key} if key is not None else {}
        return _Client(self.http.app, headers=headers, raise_server_exceptions=False)


class _Client(TestClient):
    """A TestClient that leaves the app's lifespan alone: entering a plain one runs the
    lifespan again on the running app, which started a second runtime (stores, sweeper, worker
    pool) on the same SQLite file beside the first and put it in `app.state` (a test once saw
    "database disk image is malformed" from it)."""

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


InProcessFactory = Callable[..., InProcess]


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessFactory]:
    """Start applications with NUMCHECK_* settings (as keyword arguments); stopped at the end
    of the module."""
    opened: list[TestClient] = []

    def start(**settings: object) -> InProcess:
        data_dir: Path = tmp_path_factory.mktemp("in-process") / "data"
        config = Settings(data_dir=data_dir, workers=1, **settings)  # type: ignore[arg-type]
        http = TestClient(create_app(config), raise_server_exceptions=False)
        http.__enter__()  # runs the lifespan: stores, migrations, first admin, sweeper
        opened.append(http)
        return InProcess(config, http)

    yield start
    for http in opened:
        http.__exit__(None, None, None)
