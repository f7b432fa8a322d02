"""The `numcheck` command: client commands (over the API) and operator commands (on the
server's data dir), each in its module; this one only assembles them and answers --version."""

from __future__ import annotations

from typing import Annotated

import typer

from numcheck.cli import client_commands, helptext, operator_commands

helptext.install()

app = typer.Typer(
    help="numcheck: self-hosted bulk phone-number verification.\n\n"
    "Client commands need a server and a key: --server/--api-key, NUMCHECK_SERVER/"
    "NUMCHECK_API_KEY, or ~/.config/numcheck/client.toml (profiles: --profile NAME).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def version_text() -> str:
    """numcheck's version and the phonenumbers metadata it checks with (not imported: that
    takes longer than the rest of a command)."""
    from importlib import metadata

    from numcheck import __version__

    try:
        phonenumbers = f"phonenumbers {metadata.version('phonenumbers')} metadata"
    except metadata.PackageNotFoundError:
        phonenumbers = "phonenumbers not installed (client only)"
    return f"numcheck {__version__} ({phonenumbers})"


def _version(value: bool) -> None:
    if value:
        print(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the versions and exit."
        ),
    ] = False,
) -> None:
    pass


client_commands.register(app)
operator_commands.register(app)


def main() -> None:
    app(prog_name="numcheck")  # also as `python -m numcheck`
