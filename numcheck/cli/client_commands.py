"""Client commands: submit, status, download, checks, lookup — over the wire contract only.

Server and key come from --server/--api-key, else NUMCHECK_SERVER/NUMCHECK_API_KEY, else the
config file (~/.config/numcheck/client.toml: `server = "..."`, `api_key = "..."`).

Exit codes: 0 done; 1 the task ended failed, cancelled or expired; 2 bad usage; 3 the key was
refused (401/403); 4 the request was refused (another 4xx); 5 the server failed or is unreachable.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from numcheck.client import Client, NumcheckClientError, Task, TaskFailed
from numcheck.client import errors as client_errors

CONFIG_FILE = (
    Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "numcheck" / "client.toml"
)

EXIT_TASK_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_REFUSED, EXIT_SERVER = 1, 2, 3, 4, 5

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ServerOption = Annotated[
    str | None, typer.Option("--server", help="Base URL [env NUMCHECK_SERVER].")
]
KeyOption = Annotated[str | None, typer.Option("--api-key", help="API key [env NUMCHECK_API_KEY].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _config() -> dict[str, Any]:
    try:
        return tomllib.loads(CONFIG_FILE.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _client(server: str | None, api_key: str | None) -> Client:
    config = _config()
    server = server or os.environ.get("NUMCHECK_SERVER") or config.get("server")
    api_key = api_key or os.environ.get("NUMCHECK_API_KEY") or config.get("api_key")
    if not server or not api_key:
        err.print(
            "error: set the server and key: --server/--api-key, NUMCHECK_SERVER/NUMCHECK_API_KEY, "
            f"or {CONFIG_FILE}"
        )
        raise typer.Exit(EXIT_USAGE)
    return Client(server, api_key)


def _fail(exc: Exception) -> typer.Exit:
    if isinstance(exc, TaskFailed):
        err.print(f"error: {exc}")
        return typer.Exit(EXIT_TASK_FAILED)
    assert isinstance(exc, client_errors.APIError)
    err.print(f"error: {exc.message or exc.code} ({exc.status} {exc.code})")
    if isinstance(exc, (client_errors.Unauthorized, client_errors.Forbidden)):
        return typer.Exit(EXIT_AUTH)
    if isinstance(exc, client_errors.ServerError):
        return typer.Exit(EXIT_SERVER)
    return typer.Exit(EXIT_REFUSED)


def _print_status(status: dict[str, Any], as_json: bool, saved: Path | None = None) -> None:
    if as_json:
        print(json.dumps({**status, **({"saved_to": str(saved)} if saved else {})}))
        return
    rows: list[tuple[str, str]] = [
        (name, str(status[name]))
        for name in ("task_id", "task_type", "status", "total", "success", "failure")
        if name in status
    ]
    if status.get("message"):
        rows.append(("message", status["message"]))
    if saved:
        rows.append(("saved to", str(saved)))
    if out.is_terminal:
        table = Table(show_header=False)
        for name, value in rows:
            table.add_row(name, value)
        out.print(table)
    else:
        for name, value in rows:
            print(f"{name}\t{value}")


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
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        bar = progress.add_task(task.id, total=task.total or None, rate="")

        def show(t: Task) -> None:
            speed = progress.tasks[0].speed
            progress.update(
                bar,
                completed=t.done,
                total=t.total or None,
                description=f"{t.id} {t.state}",
                rate=f"{speed:,.0f}/s" if speed else "",
            )

        task.wait(poll=poll, on_progress=show)


def submit(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Numbers: text, CSV or .gz")
    ],
    task_type: Annotated[
        str, typer.Option("--type", "-t", help="A check: validate or a registry.")
    ],
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until the task ends.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Save the zip here (implies --wait).")
    ] = None,
    column: Annotated[str | None, typer.Option(help="CSV: the numbers' column.")] = None,
    id_column: Annotated[
        str | None, typer.Option(help="CSV: a column passed through to results.")
    ] = None,
    default_region: Annotated[
        str | None, typer.Option(help="Region for national-format lines.")
    ] = None,
    poll: Annotated[float, typer.Option(help="Seconds between status calls.")] = 1.0,
    server: ServerOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a file as a task; with --wait, watch it and print a summary."""
    options: dict[str, str] = {
        k: v
        for k, v in {
            "column": column,
            "id_column": id_column,
            "default_region": default_region,
        }.items()
        if v
    }
    with _client(server, api_key) as client:
        try:
            task = client.submit(file, task_type, options)
            saved = None
            if wait or output:
                _wait(task, as_json, poll)
                if output:
                    saved = task.download(output)
        except (NumcheckClientError, TaskFailed) as exc:
            raise _fail(exc) from None
        _print_status(task.status, as_json, saved)


def status(
    task_id: Annotated[str, typer.Argument()],
    server: ServerOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a task's status."""
    with _client(server, api_key) as client:
        try:
            _print_status(client.status(task_id), as_json)
        except NumcheckClientError as exc:
            raise _fail(exc) from None


def download(
    task_id: Annotated[str, typer.Argument()],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to save the zip.")
    ] = None,
    server: ServerOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download an exported task's result zip."""
    with _client(server, api_key) as client:
        try:
            task = client.task(task_id)
            saved = task.download(output)
        except (NumcheckClientError, TaskFailed) as exc:
            raise _fail(exc) from None
        _print_status(task.status, as_json, saved)


def checks(
    server: ServerOption = None, api_key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """List the checks you may use as --type."""
    with _client(server, api_key) as client:
        try:
            available = client.checks()
        except NumcheckClientError as exc:
            raise _fail(exc) from None
    if as_json:
        print(json.dumps(available))
    elif out.is_terminal:
        table = Table("check", "columns", "description")
        for check in available:
            table.add_row(check["name"], ",".join(check["columns"]), check["description"])
        out.print(table)
    else:
        for check in available:
            print(f"{check['name']}\t{','.join(check['columns'])}\t{check['description']}")


def lookup(
    numbers: Annotated[list[str], typer.Argument(help="Numbers to check now (up to 1,000).")],
    task_type: Annotated[
        str, typer.Option("--type", "-t", help="A check, or several: validate,htx.")
    ] = "validate",
    default_region: Annotated[
        str | None, typer.Option(help="Region for national-format numbers.")
    ] = None,
    server: ServerOption = None,
    api_key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check numbers now, in the request (no task): one row each, in order."""
    with _client(server, api_key) as client:
        try:
            results = client.lookup(numbers, task_type, default_region=default_region)
        except NumcheckClientError as exc:
            raise _fail(exc) from None
    if as_json:
        print(json.dumps(results))
        return
    columns = list(dict.fromkeys(name for result in results for name in result))
    if out.is_terminal:
        table = Table(*columns)
        for result in results:
            table.add_row(*(Text(result.get(name, "")) for name in columns))
        out.print(table)
    else:
        for row in ([*columns], *([r.get(n, "") for n in columns] for r in results)):
            print("\t".join(value.replace("\t", " ").replace("\n", " ") for value in row))


def register(app: typer.Typer) -> None:
    for command in (submit, status, download, checks, lookup):
        app.command(rich_help_panel="Client (talks to a server)")(command)
