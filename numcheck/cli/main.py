"""`numcheck` commands (Typer). Every command works on the data dir of NUMCHECK_DATA_DIR."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import select

from numcheck import errors
from numcheck.accounts import audit, credits, users
from numcheck.cli import client_commands
from numcheck.config import Settings
from numcheck.services import accounts
from numcheck.storage import db
from numcheck.storage.models import Task, User
from numcheck.storage.stores import Stores

app = typer.Typer(
    help="numcheck: self-hosted bulk phone-number verification.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
registry_app = typer.Typer(
    help="Registries: sets of numbers you may query, stored as keyed hashes.", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


_CELL_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"})


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A Rich table on a terminal; tab-separated lines with a header row for pipes and scripts.

    Values are shown as text, never as Rich markup, and a tab or line end inside a value is
    escaped: no stored value can forge a row or a column.
    """
    if console.is_terminal:
        table = Table(*columns)
        for row in rows:
            table.add_row(*(Text(value) for value in row))
        console.print(table)
        return
    for row in (columns, *rows):
        print("\t".join(value.translate(_CELL_ESCAPES) for value in row))


def _settings(**overrides: Any) -> Settings:
    """The settings, or a plain sentence saying which variable to fix."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"])
            name = f"NUMCHECK_{where.upper()}: " if where else ""
            reason = problem["msg"].removeprefix("Value error, ")
            err_console.print(f"[red]configuration error:[/red] {name}{reason}")
        raise typer.Exit(2) from None


@contextmanager
def _stores() -> Iterator[Stores]:
    stores = Stores.open(_settings())
    try:
        db.prepare(stores.engine, embedded=stores.settings.embedded_database)
        yield stores
    except errors.NumcheckError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    except db.SchemaOutOfDate as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        stores.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env NUMCHECK_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env NUMCHECK_PORT].")] = None,
) -> None:
    """Run the API and its worker pool (the embedded default: SQLite and files in the data dir)."""
    from numcheck.telemetry import multiprocess

    multiprocess.prepare()  # first: the pool's processes count into files beside the server's
    import uvicorn

    from numcheck.api.app import create_app
    from numcheck.api.connections import guarded_protocol
    from numcheck.logs import configure_logging

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,  # numcheck.access logs requests without query strings
        log_config=None,
        timeout_graceful_shutdown=30,
        http=guarded_protocol(settings.header_timeout_seconds, settings.max_connections),
    )


@app.command()
def worker() -> None:
    """Run checks for the servers sharing NUMCHECK_DATABASE_URL and NUMCHECK_BROKER_URL."""
    from numcheck.telemetry import multiprocess

    multiprocess.prepare()  # first: the Celery children count into files the worker sums
    from numcheck.cli import celery_worker
    from numcheck.logs import configure_logging
    from numcheck.storage import db as storage_db
    from numcheck.tasks import catalog

    settings = _settings()
    if not settings.broker_url:
        err_console.print("[red]error:[/red] set NUMCHECK_BROKER_URL (redis://… or amqp://…).")
        raise typer.Exit(2)
    configure_logging(settings.log_level, settings.log_format)
    stores = Stores.open(settings)
    try:
        storage_db.prepare(stores.engine, embedded=False)
        catalog.check_registry_key(stores)
    except (storage_db.SchemaOutOfDate, errors.RegistryKeyMismatch) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        stores.close()
    celery_worker.run(settings)


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option("--user", help="User name; created when missing.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
) -> None:
    """Create an API key. The key is printed once, alone on the last line of stdout."""
    with _stores() as stores, stores.sessions.begin() as session:
        owner = accounts.create_user(
            session,
            user,
            actor=audit.cli_actor(),
            admin=admin,
            default_credits=stores.settings.default_credit_amount,
        )
        new_key = accounts.create_key(session, owner, actor=audit.cli_actor())
    role = users.role_of(owner)
    err_console.print(
        f"Created key {new_key.prefix} for {user} ({role}). Store it now: it is shown once."
    )
    print(new_key.plaintext)


@keys_app.command("list")
def keys_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's keys.")] = None,
) -> None:
    """List API keys (prefixes only; keys themselves are never stored)."""
    with _stores() as stores, stores.sessions.begin() as session:
        rows = [
            (
                key.prefix,
                owner.name,
                users.role_of(owner),
                _when(key.created_at),
                _when(key.last_used_at),
                _when(key.revoked_at),
            )
            for key, owner in accounts.list_keys(session, user)
        ]
    _print_table(("prefix", "user", "role", "created", "last used", "revoked"), rows)


@keys_app.command("revoke")
def keys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (see keys list).")],
) -> None:
    """Revoke an API key at once."""
    with _stores() as stores, stores.sessions.begin() as session:
        accounts.revoke_key(session, prefix, actor=audit.cli_actor())
    err_console.print(f"Revoked key {prefix}.")


@app.command("tasks")
def tasks_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's tasks.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
) -> None:
    """List tasks, newest first."""
    with _stores() as stores, stores.sessions.begin() as session:
        query = select(Task, User).join(User, User.id == Task.user_id)
        if user:
            query = query.where(Task.user_id == users.get_by_name(session, user).id)
        rows = [
            (
                task.id,
                owner.name,
                task.task_type,
                task.status,
                str(task.total),
                str(task.success),
                str(task.failure),
                _when(task.created_at),
            )
            for task, owner in session.execute(query.order_by(Task.created_at.desc()).limit(limit))
        ]
    _print_table(("task", "user", "type", "status", "total", "success", "failure", "created"), rows)


@registry_app.command("load")
def registry_load(
    name: Annotated[str, typer.Argument(help="Registry name; it becomes a task_type.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Text or CSV file.")],
    column: Annotated[
        str | None, typer.Option(help="CSV: the header of the number column.")
    ] = None,
    add: Annotated[
        bool, typer.Option("--add", help="New version = current plus the file.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="New version = current minus the file.")
    ] = False,
    default_region: Annotated[
        str | None, typer.Option(help="Read national-format numbers as this region's (e.g. DE).")
    ] = None,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="NUMCHECK_REGISTRY_KEY was changed on purpose: load in full under the new key, "
            "even while other registries still carry the old one.",
        ),
    ] = False,
) -> None:
    """Load a new version of a registry (a full load replaces it)."""
    from numcheck.numbers.compiled import validator
    from numcheck.services import registries as registry_service

    if add and remove:
        err_console.print("[red]error:[/red] choose --add or --remove, not both.")
        raise typer.Exit(2)
    mode = "add" if add else "remove" if remove else "replace"
    with _stores() as stores:
        registry_service.check_name(name)
        validator.prepare(stores.settings.validator_cache_dir)
        load = registry_service.start_load(
            stores.settings,
            name,
            filename=file.name,
            column=column,
            default_region=default_region,
        )
        try:
            with open(file, "rb") as handle:
                while block := handle.read(1 << 20):
                    load.feed(block)
            report = registry_service.publish(
                stores, name, mode, load, actor=audit.cli_actor(), new_key=new_key
            )
        finally:
            load.discard()
    _print_table(
        (
            "registry",
            "version",
            "mode",
            "entries",
            "numbers read",
            "duplicates",
            "invalid",
            "first invalid lines",
        ),
        [
            (
                report.name,
                str(report.version),
                report.mode,
                str(report.entries),
                str(report.numbers),
                str(report.duplicates),
                str(report.invalid),
                " ".join(map(str, report.invalid_lines)) or "-",
            )
        ],
    )


@registry_app.command("list")
def registry_list() -> None:
    """Registries, their current versions and how many users are granted each."""
    from numcheck.services import registries as registry_service

    with _stores() as stores, stores.sessions.begin() as session:
        rows = [
            (
                registry.name,
                str(version.version) if version else "-",
                str(version.entries) if version else "-",
                _when(version.created_at) if version else "-",
                str(granted),
            )
            for registry, version, granted in registry_service.listing(session)
        ]
    _print_table(("registry", "version", "entries", "loaded", "granted users"), rows)


@registry_app.command("delete")
def registry_delete(name: Annotated[str, typer.Argument()]) -> None:
    """Delete a registry (running tasks finish on the version they started with)."""
    from numcheck.services import registries as registry_service

    with _stores() as stores:
        registry_service.delete(stores, name, actor=audit.cli_actor())
    err_console.print(f"Deleted registry {name}.")


@registry_app.command("grant")
def registry_grant(
    name: Annotated[str, typer.Argument()],
    user: Annotated[str, typer.Option("--user", help="User name.")],
) -> None:
    """Let a user run this registry as a check."""
    from numcheck.services import registries as registry_service

    with _stores() as stores, stores.sessions.begin() as session:
        registry_service.grant(session, name, user, actor=audit.cli_actor())
    err_console.print(f"Granted {name} to {user}.")


@registry_app.command("revoke")
def registry_revoke(
    name: Annotated[str, typer.Argument()],
    user: Annotated[str, typer.Option("--user", help="User name.")],
) -> None:
    """Take a registry away from a user."""
    from numcheck.services import registries as registry_service

    with _stores() as stores, stores.sessions.begin() as session:
        registry_service.revoke(session, name, user, actor=audit.cli_actor())
    err_console.print(f"Revoked {name} from {user}.")


db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (NUMCHECK_DATABASE_URL, or SQLite in the data dir) to this version."""
    stores = Stores.open(_settings())
    try:
        db.upgrade(stores.engine)
    finally:
        stores.close()
    err_console.print("Database schema is up to date.")


credits_app = typer.Typer(help="Credits: set, grant, show.", no_args_is_help=True)
app.add_typer(credits_app, name="credits")


def _show_credits(account: accounts.UserAccount) -> None:
    _print_table(
        ("user", "balance", "reserved", "charged this month"),
        [
            (
                account.user.name,
                "unlimited" if account.credits.unlimited else str(account.credits.balance),
                str(account.credits.reserved),
                str(account.credits.charged_this_month),
            )
        ],
    )


@credits_app.command("set")
def credits_set(
    user: Annotated[str, typer.Argument(help="User name.")],
    amount: Annotated[str, typer.Argument(help="Whole number, or 'unlimited'.")],
) -> None:
    """Set a user's available balance, or make them unlimited."""
    with _stores() as stores, stores.sessions.begin() as session:
        account = accounts.set_credits(
            session, user, credits.parse_amount(amount), actor=audit.cli_actor()
        )
    _show_credits(account)


@credits_app.command("grant")
def credits_grant(
    user: Annotated[str, typer.Argument(help="User name.")],
    amount: Annotated[int, typer.Argument(help="Credits to add to a metered balance.")],
) -> None:
    """Add credits to a metered user's balance (refused for an unlimited user)."""
    with _stores() as stores, stores.sessions.begin() as session:
        account = accounts.grant_credits(session, user, amount, actor=audit.cli_actor())
    _show_credits(account)


@credits_app.command("show")
def credits_show(user: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Balance, reserved credits and credits charged this month."""
    with _stores() as stores, stores.sessions.begin() as session:
        account = accounts.describe(session, users.get_by_name(session, user))
    _show_credits(account)


@app.command("audit")
def audit_list(
    limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 100,
) -> None:
    """The audit log: who created or revoked keys, granted credits, loaded registries, ..."""
    with _stores() as stores, stores.sessions.begin() as session:
        rows = [
            (_when(entry.created_at), entry.actor, entry.action, entry.target, entry.details or "")
            for entry in audit.recent(session, limit)
        ]
    _print_table(("when", "actor", "action", "target", "details"), rows)


client_commands.register(app)


def main() -> None:
    app()
