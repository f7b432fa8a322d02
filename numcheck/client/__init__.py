"""Python client of numcheck's wire contract (docs/api.md); works against any server that speaks it.

from numcheck.client import Client

client = Client("http://127.0.0.1:8080", api_key)
task = client.submit("numbers.txt", "validate")
task.wait(on_progress=lambda t: print(t.done, "/", t.total))
for row in task.rows():
    print(row["Number"], row["valid"])
"""

from numcheck.client.api import Client, Task
from numcheck.client.errors import (
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
    Unauthorized,
    Unprocessable,
)

__all__ = [
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
    "Unauthorized",
    "Unprocessable",
]
