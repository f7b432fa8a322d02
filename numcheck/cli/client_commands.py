"""Client commands: submit, status, download, cancel, list, account, checks, lookup — over the
wire contract only (numcheck.client), importing nothing of the server.

Server and key: --server/--api-key, else NUMCHECK_SERVER/NUMCHECK_API_KEY, else the profile
(--profile, NUMCHECK_PROFILE) or the top level of ~/.config/numcheck/client.toml (see
client_config). Exit codes: output.EXIT_*.
"""

from __future__ import annotations

import enum
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from numcheck.cli import client_config, output
from numcheck.cli.helptext import examples
from numcheck.cli.output import err

if TYPE_CHECKING:
    from numcheck.client import Client, NumcheckClientError, Task

PANEL = "Client (talks to a server)"
UPLOAD_BAR_BYTES = 1 << 20  # a progress bar for uploads from this size

ServerOption = Annotated[
    str | None,
    typer.Option("--server", envvar="NUMCHECK_SERVER", metavar="URL", help="Base URL."),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="NUMCHECK_API_KEY", metavar="KEY", help="API key."),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        envvar="NUMCHECK_PROFILE",
        metavar="NAME",
        help="Server and key from \\[profiles.NAME] of client.toml.",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help='JSON on stdout, errors too: {"error": {...}}.')
]
TaskIdArgument = Annotated[str, typer.Argument(metavar="TASK_ID", help="The task's id.")]
PollOption = Annotated[
    float,
    typer.Option(
        metavar="SECONDS", help="Longest wait between status calls (they start at 50 ms)."
    ),
]


# -- connecting and failing -------------------------------------------------------------------


@contextmanager
def _connected(
    server: str | None, api_key: str | None, profile: str | None, as_json: bool
) -> Iterator[Client]:
    """A client for the configured server; any client error becomes its message and exit code."""
    from numcheck.client import Client, NumcheckClientError

    try:
        target = client_config.resolve(server, api_key, profile)
    except client_config.ConfigError as exc:
        output.fail("bad_config", str(exc), output.EXIT_USAGE, as_json=as_json)
    if not target.server or not target.api_key:
        output.fail(
            "no_server",
            "set the server and key: --server/--api-key, NUMCHECK_SERVER/NUMCHECK_API_KEY, "
            f"or {client_config.config_file()} (see numcheck --help)",
            output.EXIT_USAGE,
            as_json=as_json,
        )
    if err.is_terminal and not as_json:
        _show_retries()
    client = Client(target.server, target.api_key)
    try:
        yield client
    except NumcheckClientError as exc:
        _fail(exc, as_json)
    finally:
        client.close()


def _fail(exc: NumcheckClientError, as_json: bool) -> None:
    from numcheck.client import errors

    details: dict[str, Any] = {}
    message = exc.message
    if isinstance(exc, errors.TaskNotFinished):
        code = output.EXIT_NOT_FINISHED
        message += f"; wait for it: numcheck download {exc.status.get('task_id')} --wait"
        details["task"] = exc.status
    elif isinstance(exc, errors.TaskFailed):
        code = output.EXIT_TASK_FAILED
        details["task"] = exc.status
    elif isinstance(exc, errors.Unreachable):
        code = output.EXIT_SERVER
        details["status"] = 0
    elif isinstance(exc, errors.APIError):
        details["status"] = exc.status
        message = f"{exc.message or exc.code} ({exc.status} {exc.code})"
        if isinstance(exc, (errors.Unauthorized, errors.Forbidden)):
            code = output.EXIT_AUTH
        elif isinstance(exc, errors.ServerError):
            code = output.EXIT_SERVER
        else:
            code = output.EXIT_REFUSED
    else:
        code = output.EXIT_TASK_FAILED
    output.fail(exc.code, message, code, as_json=as_json, details=details)


class _RetryNotice(logging.Handler):
    """The client's retries, told to the person at the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        output.note(f"numcheck: {record.getMessage()}")


def _show_retries() -> None:
    logger = logging.getLogger("numcheck.client")
    if not any(isinstance(h, _RetryNotice) for h in logger.handlers):
        logger.addHandler(_RetryNotice(logging.WARNING))
        logger.setLevel(logging.WARNING)
        logger.propagate = False


# -- showing tasks ----------------------------------------------------------------------------

STATUS_FIELDS = ("task_id", "task_type", "status", "total", "success", "failure", "message")


def _print_status(status: dict[str, Any], as_json: bool, saved: Path | None = None) -> None:
    if as_json:
        output.emit_json({**status, **({"saved_to": str(saved)} if saved else {})})
        return
    pairs: list[tuple[str, object]] = [(n, status[n]) for n in STATUS_FIELDS if n in status]
    if saved:
        pairs.append(("saved to", saved))
    output.fields(pairs)


class _Rate:
    """Lines per second and time left, from the first status seen (not from Rich's samples,
    which move only when a chunk ends)."""

    def __init__(self) -> None:
        self._start: tuple[float, int] | None = None

    def describe(self, done: int, total: int) -> tuple[str, str]:
        now = time.monotonic()
        if self._start is None:
            self._start = (now, done)
        started, first = self._start
        if done <= first or now <= started:
            return "…/s", "left …"
        rate = (done - first) / (now - started)
        left = (total - done) / rate if rate > 0 else 0.0
        return f"{rate:,.0f}/s", f"left {_duration(left)}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _wait(task: Task, as_json: bool, poll: float) -> None:
    if as_json or not err.is_terminal:
        last: tuple[str, int] | None = None

        def plain(t: Task) -> None:
            nonlocal last
            if not as_json and (t.state, t.done) != last:
                last = (t.state, t.done)
                print(f"{t.id}\t{t.state}\t{t.done}/{t.total}", file=sys.stderr, flush=True)

        task.wait(poll=poll, on_progress=plain)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    rate = _Rate()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[left]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        bar = progress.add_task(task.id, total=task.total or None, rate="", left="")

        def show(t: Task) -> None:
            speed, left = rate.describe(t.done, t.total)
            progress.update(
                bar,
                completed=t.done,
                total=t.total or None,
                description=f"{t.id} {t.state}",
                rate=speed,
                left=left,
            )

        task.wait(poll=poll, on_progress=show)


@contextmanager
def _upload_bar(file: Path, as_json: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of the bytes sent, for a big file on a terminal."""
    if as_json or not err.is_terminal or file.stat().st_size < UPLOAD_BAR_BYTES:
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]uploading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        bar = progress.add_task("upload", total=file.stat().st_size)
        yield lambda sent, size: progress.update(bar, completed=sent, total=size)


# -- the commands -----------------------------------------------------------------------------


class ResultFormat(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    jsonl = "jsonl"


def submit(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, metavar="FILE", help="Numbers: text, CSV, XLSX or .gz."
        ),
    ],
    task_type: Annotated[
        str,
        typer.Option("--type", "-t", metavar="CHECK", help="A check (validate, or a registry)."),
    ],
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until the task ends.")
    ] = False,
    output_path: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="PATH", help="Save the zip here (implies --wait)."),
    ] = None,
    column: Annotated[
        str | None, typer.Option(metavar="NAME", help="CSV/XLSX: the numbers' column.")
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="CSV/XLSX: a column passed through to results."),
    ] = None,
    default_region: Annotated[
        str | None, typer.Option(metavar="REGION", help="Region for national-format lines (DE).")
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option(metavar="CHAR", help="CSV: , ; | or tab (default: found from the rows)."),
    ] = None,
    sheet: Annotated[
        str | None, typer.Option(metavar="NAME", help="XLSX: the sheet (default: the first).")
    ] = None,
    result_format: Annotated[
        ResultFormat, typer.Option(help="The results file's format inside the zip.")
    ] = ResultFormat.csv,
    include_failed: Annotated[
        bool, typer.Option(help="One results file with the failed lines too (no failed file).")
    ] = False,
    poll: PollOption = 2.0,
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a file as a task; with --wait, watch it and print a summary."""
    options = {
        k: v
        for k, v in {
            "column": column,
            "id_column": id_column,
            "default_region": default_region,
            "delimiter": delimiter,
            "sheet": sheet,
            "result_format": result_format.value,
            "include_failed": "true" if include_failed else None,
        }.items()
        if v
    }
    with _connected(server, api_key, profile, as_json) as client:
        with _upload_bar(file, as_json) as on_upload:
            task = client.submit(file, task_type, options, on_upload=on_upload)
        saved = None
        if wait or output_path:
            _wait(task, as_json, poll)
            if output_path:
                saved = task.download(output_path)
        _print_status(task.status, as_json, saved)


def status(
    task_id: TaskIdArgument,
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a task's status."""
    with _connected(server, api_key, profile, as_json) as client:
        _print_status(client.status(task_id), as_json)


def download(
    task_id: TaskIdArgument,
    output_path: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="PATH", help="Where to save the zip (TASK_ID.zip)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for an unfinished task, then download.")
    ] = False,
    poll: PollOption = 2.0,
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download an exported task's result zip (exit 6 while it is not finished)."""
    with _connected(server, api_key, profile, as_json) as client:
        task = client.task(task_id)
        if wait:
            _wait(task, as_json, poll)
        saved = task.download(output_path)
        _print_status(task.status, as_json, saved)


def cancel(
    task_id: TaskIdArgument,
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a pending or processing task (its credits are released); for an exported one,
    delete its files."""
    with _connected(server, api_key, profile, as_json) as client:
        _print_status(client.cancel(task_id).status, as_json)


def list_tasks(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only these: pending, processing, exported, failed, cancelled, expired "
            "(several: comma-separated).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", min=0, help="How many, newest first (0: all).")
    ] = 50,
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your tasks on the server, newest first, page after page."""
    with _connected(server, api_key, profile, as_json) as client:
        found = []
        for task in client.tasks(status, page_size=min(limit, 500) if limit else 500):
            found.append(task.status)
            if limit and len(found) >= limit:
                break
    if as_json:
        output.emit_json(found)
        return
    columns = ("task_id", "task_type", "status", "total", "success", "failure", "created_at")
    output.table(
        ("task", "type", "status", "total", "success", "failure", "created"),
        [[body.get(name) for name in columns] for body in found],
    )


def account(
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your credits and limits."""
    with _connected(server, api_key, profile, as_json) as client:
        body = client.account()
    body.pop("webhook_secret", None)  # a secret: the Python client's account() has it
    if as_json:
        output.emit_json(body)
        return
    credits, limits = body.get("credits", {}), body.get("limits", {})
    output.fields(
        [
            ("user", body.get("name")),
            ("role", body.get("role")),
            ("balance", "unlimited" if credits.get("unlimited") else credits.get("balance")),
            ("reserved", credits.get("reserved")),
            ("charged this month", credits.get("charged_this_month")),
            *((name.replace("_", " "), value) for name, value in limits.items()),
        ]
    )


def checks(
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the checks you may use as --type."""
    with _connected(server, api_key, profile, as_json) as client:
        available = client.checks()
    if as_json:
        output.emit_json(available)
        return
    output.table(
        ("check", "columns", "description"),
        [(c["name"], ",".join(c["columns"]), c["description"]) for c in available],
    )


def lookup(
    numbers: Annotated[
        list[str], typer.Argument(metavar="NUMBER", help="Numbers to check now (up to 1,000).")
    ],
    task_type: Annotated[
        str,
        typer.Option("--type", "-t", metavar="CHECKS", help="A check, or several: validate,htx."),
    ] = "validate",
    default_region: Annotated[
        str | None, typer.Option(metavar="REGION", help="Region for national-format numbers.")
    ] = None,
    server: ServerOption = None,
    api_key: KeyOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check numbers now, in the request (no task): one row each, in order."""
    with _connected(server, api_key, profile, as_json) as client:
        results = client.lookup(numbers, task_type, default_region=default_region)
    if as_json:
        output.emit_json(results)
        return
    columns = list(dict.fromkeys(name for result in results for name in result))
    output.table(columns, [[result.get(name, "") for name in columns] for result in results])


COMMANDS: tuple[tuple[Callable[..., None], str, tuple[str, ...]], ...] = (
    (
        submit,
        "submit",
        (
            "numcheck submit numbers.txt --type validate --wait -o results.zip",
            "numcheck submit crm.csv -t validate --column phone --id-column customer --json",
            "numcheck submit leads.xlsx -t validate --sheet Leads --result-format xlsx --wait",
        ),
    ),
    (status, "status", ("numcheck status dc60g3n8lhpk1vas1e5g", "numcheck status TASK_ID --json")),
    (
        download,
        "download",
        ("numcheck download TASK_ID -o results.zip", "numcheck download TASK_ID --wait"),
    ),
    (cancel, "cancel", ("numcheck cancel TASK_ID",)),
    (
        list_tasks,
        "list",
        ("numcheck list", "numcheck list --status pending,processing --limit 0 --json"),
    ),
    (account, "account", ("numcheck account", "numcheck account --profile staging --json")),
    (checks, "checks", ("numcheck checks",)),
    (
        lookup,
        "lookup",
        (
            "numcheck lookup +442079460958 +12025550101",
            "numcheck lookup 030123456 --default-region DE -t validate --json",
        ),
    ),
)


def register(app: typer.Typer) -> None:
    for command, name, lines in COMMANDS:
        app.command(name, rich_help_panel=PANEL, epilog=examples(*lines))(command)
