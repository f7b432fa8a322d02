"""What every command prints: tables (Rich on a terminal, tab-separated lines in a pipe, JSON
under --json), errors (a line on stderr, or `{"error": {...}}` on stdout under --json) and the
exit codes, defined once."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# Exit codes (README, "From Python and from a terminal").
EXIT_TASK_FAILED = 1  # the task ended failed, cancelled or expired; an operator command failed
EXIT_USAGE = 2  # bad usage or configuration (no server or key, a malformed client.toml)
EXIT_AUTH = 3  # the key was refused (401/403)
EXIT_REFUSED = 4  # the request was refused (another 4xx)
EXIT_SERVER = 5  # the server failed (5xx) or could not be reached
EXIT_NOT_FINISHED = 6  # results asked for while the task still runs

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True, highlight=False)

_CELL_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"})


def cell(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def table(
    columns: Sequence[str], rows: Sequence[Sequence[object]], *, as_json: bool = False
) -> None:
    """A Rich table on a terminal; tab-separated lines with a header row for pipes and scripts;
    under --json a list of objects keyed by the column names (spaces as underscores).

    Values are shown as text, never as Rich markup, and a tab or line end inside a value is
    escaped: no stored value can forge a row or a column.
    """
    if as_json:
        keys = [column.replace(" ", "_") for column in columns]
        emit_json([dict(zip(keys, row, strict=True)) for row in rows])
        return
    if out.is_terminal:
        shown = Table(*columns)
        for row in rows:
            shown.add_row(*(Text(cell(value)) for value in row))
        out.print(shown)
        return
    for row in (columns, *rows):
        print("\t".join(cell(value).translate(_CELL_ESCAPES) for value in row))


def fields(pairs: Sequence[tuple[str, object]]) -> None:
    """Name-value lines: a two-column table on a terminal, `name<TAB>value` in a pipe."""
    if out.is_terminal:
        shown = Table(show_header=False)
        for name, value in pairs:
            shown.add_row(name, Text(cell(value)))
        out.print(shown)
        return
    for name, value in pairs:
        print(f"{name}\t{cell(value).translate(_CELL_ESCAPES)}")


def emit_json(document: Any) -> None:
    print(json.dumps(document))
    sys.stdout.flush()


def note(message: str) -> None:
    """A line for the person at the terminal (stderr; never markup)."""
    err.print(escape(message))


def fail(
    code: str,
    message: str,
    exit_code: int,
    *,
    as_json: bool = False,
    details: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Print the error and exit: `error: message` on stderr, or under --json
    `{"error": {"code", "message", ...}}` on stdout (where the answer was expected)."""
    if as_json:
        emit_json({"error": {"code": code, "message": message, **(details or {})}})
    else:
        err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(exit_code)
