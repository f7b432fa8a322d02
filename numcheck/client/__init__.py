"""Python client of numcheck's wire contract (docs/api.md); works against any server that speaks it.

from numcheck.client import Client

with Client("http://127.0.0.1:8080", api_key) as client:
    task = client.submit("numbers.txt", "validate")
    task.wait(on_progress=lambda t: print(t.done, "/", t.total))
    for row in task.rows():
        print(row["Number"], row["valid"])

`AsyncClient` has the same surface for asyncio code. Every error is a `NumcheckClientError`.
"""

from numcheck.client.aio import AsyncClient, AsyncTask
from numcheck.client.api import Client, Task
from numcheck.client.errors import (
    APIError,
    Conflict,
    Forbidden,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    NumcheckClientError,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TaskFailed,
    TaskNotFinished,
    Unauthorized,
    Unprocessable,
    Unreachable,
    WaitTimeout,
)

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncTask",
    "Client",
    "Conflict",
    "Forbidden",
    "InsufficientCredits",
    "InvalidRequest",
    "NotFound",
    "NumcheckClientError",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "Task",
    "TaskFailed",
    "TaskNotFinished",
    "Unauthorized",
    "Unprocessable",
    "Unreachable",
    "WaitTimeout",
]
