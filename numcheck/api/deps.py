"""FastAPI dependencies: the process's stores, a session, the authenticated caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from numcheck import errors
from numcheck.accounts import keys
from numcheck.api.runtime import Runtime
from numcheck.storage.models import User

_KEY_PARAMETERS = {"api_key", "apikey", "key", "x-api-key", "x_api_key", "token", "access_token"}


async def get_runtime(request: Request) -> Runtime:
    # async: a plain attribute read, not worth a hop to the thread pool (a sync dependency's)
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def transaction(runtime: RuntimeDep) -> Iterator[Session]:
    """The route's transaction: it commits when the route function returns (before the
    response is sent) and rolls back when it raises; routes never commit by hand. It starts at
    the first query, so a route that streams an upload first holds no transaction meanwhile."""
    with runtime.stores.sessions.begin() as session:
        yield session


SessionDep = Annotated[Session, Depends(transaction, scope="function")]


def read_transaction(runtime: RuntimeDep) -> Iterator[Session]:
    """A transaction for a route that only reads (a status call): on SQLite it reads its
    snapshot at once instead of queueing for the write lock behind the workers' chunks."""
    with runtime.stores.read_sessions.begin() as session:
        yield session


ReadSessionDep = Annotated[Session, Depends(read_transaction, scope="function")]


# The OpenAPI `apiKey` security scheme of every /v1 route; missing keys are ours to refuse
# (401 with the error body), hence auto_error=False.
API_KEY = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", description="Your API key.", auto_error=False
)


ApiKey = Annotated[str | None, Security(API_KEY)]

T = TypeVar("T")


def _refuse_key_in_query(request: Request) -> None:
    if any(name.lower() in _KEY_PARAMETERS for name in request.query_params):
        raise errors.KeyInQueryString()


def _admit(request: Request, runtime: Runtime, x_api_key: str | None) -> None:
    """After the key is known good: note its public part, then charge its rate limit."""
    assert x_api_key is not None
    request.state.key_prefix = x_api_key.split("_", 2)[1]  # the key's public part
    runtime.rate_limiter.acquire(request.state.key_prefix)


def _touch(runtime: Runtime, key_id: int) -> None:
    with runtime.stores.sessions.begin() as session:
        keys.touch(session, key_id)


def current_user(request: Request, runtime: RuntimeDep, x_api_key: ApiKey = None) -> User:
    """The caller, from the X-API-Key header only.

    Authentication uses its own short transaction, so that a long upload never holds one open;
    it only reads, and takes the write lock only when the key's last use is due to be recorded
    (once a minute), so that status calls do not queue behind the workers' writes.
    """
    _refuse_key_in_query(request)
    with runtime.stores.read_sessions.begin() as session:
        user, key = keys.identify(session, x_api_key)
        session.expunge(user)
    if keys.needs_touch(key):
        _touch(runtime, key.id)
    _admit(request, runtime, x_api_key)
    return user


def authenticated_read(
    request: Request,
    runtime: Runtime,
    x_api_key: str | None,
    read: Callable[[Session, User], T],
) -> T:
    """`current_user`, then `read(session, user)`, in one read-only transaction and one call
    (for a status call: one trip to the thread pool and one transaction instead of four and
    two). The same checks in the same order: a key in the query string, the key, its last use
    recorded when due (then in a transaction of its own, before the read's), its rate limit."""
    _refuse_key_in_query(request)
    with runtime.stores.read_sessions.begin() as session:
        user, key = keys.identify(session, x_api_key)
        if not keys.needs_touch(key):
            _admit(request, runtime, x_api_key)
            return read(session, user)
        session.expunge(user)
    _touch(runtime, key.id)  # once a minute per key: not inside the read transaction
    _admit(request, runtime, x_api_key)
    with runtime.stores.read_sessions.begin() as session:
        return read(session, user)


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise errors.Forbidden()
    return user


AdminUser = Annotated[User, Depends(admin_user)]
