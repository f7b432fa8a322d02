"""Every metric numcheck's processes count, defined once (names in the README, "Operate").

Counters and histograms only: in multiprocess mode (`multiprocess.py`) each process adds to its
own file and a scrape sums them. Gauges read from the database at scrape time live in
`exposition.DatabaseCollector` instead. Labels are closed sets or operator-chosen names (checks,
route templates), never a task id, a raw path or a number.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "numcheck_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "numcheck_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TASKS_CREATED = Counter("numcheck_tasks_created", "Tasks created, by check (task_type).", ["check"])
TASKS_FINISHED = Counter(
    "numcheck_tasks_finished",
    "Tasks that ended, by check and outcome (exported, failed, cancelled, expired).",
    ["check", "outcome"],
)
LINES_CHECKED = Counter(
    "numcheck_lines_checked",
    "Non-blank lines checked, by check and outcome (success: answered, failure: not a number).",
    ["check", "outcome"],
)
CHUNK_DURATION = Histogram(
    "numcheck_chunk_duration_seconds",
    "Time a worker took for one chunk, reading to writing its parts.",
    ["check"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
FINALIZE_DURATION = Histogram(
    "numcheck_finalize_duration_seconds",
    "Time a worker took to write one task's result zip.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
LEASES_RENEWED = Counter(
    "numcheck_leases_renewed", "Lease renewals by the heartbeat of a worker, by job kind.", ["kind"]
)
LEASES_EXPIRED = Counter(
    "numcheck_leases_expired",
    "Jobs claimed again after their lease ran out (a worker died or a message was lost).",
    ["kind"],
)
WEBHOOK_DELIVERIES = Counter(
    "numcheck_webhook_deliveries",
    "Webhook attempts, by outcome (delivered, retry, gave_up).",
    ["outcome"],
)
VALIDATOR_FALLBACKS = Counter(
    "numcheck_validator_fallbacks", "Lines the compiled validator handed to phonenumbers."
)
RATE_LIMIT_REFUSALS = Counter(
    "numcheck_rate_limit_refusals",
    "Requests refused with 429, by error code (rate_limited, too_many_active_tasks, ...).",
    ["code"],
)
