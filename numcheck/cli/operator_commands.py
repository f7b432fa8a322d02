"""Operator commands (serve, worker, db, keys, credits, tasks, registry, audit): they work on
the data dir and database the server uses — NUMCHECK_DATA_DIR (default `numcheck-data` in the
current directory) and NUMCHECK_DATABASE_URL — and say which. A command that only reads
refuses a data dir that does not exist rather than create an empty one.

The server's modules (SQLAlchemy, Alembic, the services) are imported inside the commands:
`numcheck status` and the other client commands never load them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from numcheck.cli import output
from numcheck.cli.helptext import examples

if TYPE_CHECKING:
    from numcheck.config import Settings
    from numcheck.services.accounts import UserAccount
    from numcheck.storage.stores import Stores

JsonOption = Annotated[bool, typer.Option("--json", help="JSON on stdout, errors too.")]
UserOption = Annotated[str, typer.Option("--user", metavar="NAME", help="User name.")]


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


SERVER_PACKAGES = ("pydantic_settings", "sqlalchemy", "alembic", "fastapi", "phonenumbers")


def _require_server(as_json: bool) -> None:
    """A client-only install (`pip install numcheck`) has no server: say what to install."""
    from importlib.util import find_spec

    def absent(name: str) -> bool:
        try:
            return find_spec(name) is None
        except ImportError:  # an import hook that refuses the name
            return True

    missing = [name for name in SERVER_PACKAGES if absent(name)]
    if missing:
        output.fail(
            "server_not_installed",
            f"this command needs numcheck's server ({', '.join(missing)} not installed): "
            "pip install 'numcheck[server]'",
            output.EXIT_USAGE,
            as_json=as_json,
        )


def _needs_server(command: Callable[..., None]) -> Callable[..., None]:
    """The command, first checking that the server is installed (its imports come next)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        _require_server(bool(kwargs.get("as_json", False)))
        command(*args, **kwargs)

    return run


def _settings(*, as_json: bool = False, overrides: dict[str, Any] | None = None) -> Settings:
    """The settings, or a plain sentence saying which variable to fix."""
    from pydantic import ValidationError

    from numcheck.config import Settings

    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        problems = []
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"])
            name = f"NUMCHECK_{where.upper()}: " if where else ""
            problems.append(name + problem["msg"].removeprefix("Value error, "))
        output.fail(
            "bad_configuration",
            "configuration error: " + "; ".join(problems),
            output.EXIT_USAGE,
            as_json=as_json,
        )


def _where(settings: Settings) -> str:
    """Which data dir (and database) a command uses, and why."""
    data_dir = settings.data_dir.resolve()
    why = (
        "NUMCHECK_DATA_DIR"
        if os.environ.get("NUMCHECK_DATA_DIR")
        else "default; set NUMCHECK_DATA_DIR"
    )
    database = (
        "the database of NUMCHECK_DATABASE_URL" if settings.database_url else "its SQLite database"
    )
    return f"data dir {data_dir} ({why}), {database}"


@contextmanager
def _stores(*, reads_only: bool = False, as_json: bool = False) -> Iterator[Stores]:
    """The server's stores. Says on stderr which data dir it uses; a command that only reads
    refuses a data dir (or embedded database) that is not there."""
    from numcheck import errors
    from numcheck.storage import db
    from numcheck.storage.stores import Stores

    settings = _settings(as_json=as_json)
    missing = settings.embedded_database and not settings.sqlite_path.exists()
    if reads_only and missing:
        output.fail(
            "no_data_dir",
            f"no numcheck database in {settings.data_dir.resolve()}: set NUMCHECK_DATA_DIR to "
            "the server's data dir (or NUMCHECK_DATABASE_URL to its database)",
            output.EXIT_TASK_FAILED,
            as_json=as_json,
        )
    output.note(("numcheck: new " if missing else "numcheck: ") + _where(settings))
    stores = Stores.open(settings)
    try:
        db.prepare(stores.engine, embedded=stores.settings.embedded_database)
        yield stores
    except errors.NumcheckError as exc:
        output.fail(exc.code, exc.message, output.EXIT_TASK_FAILED, as_json=as_json)
    except db.SchemaOutOfDate as exc:
        output.fail("schema_out_of_date", str(exc), output.EXIT_TASK_FAILED, as_json=as_json)
    finally:
        stores.close()


# -- servers ----------------------------------------------------------------------------------


def serve(
    host: Annotated[
        str | None,
        typer.Option(envvar="NUMCHECK_HOST", metavar="ADDRESS", help="Bind address."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="NUMCHECK_PORT", metavar="PORT", help="Port.")
    ] = None,
) -> None:
    """Run the API and its worker pool (the embedded default: SQLite and files in the data dir)."""
    from numcheck.telemetry import multiprocess

    multiprocess.prepare()  # first: the pool's processes count into files beside the server's
    import uvicorn

    from numcheck.api.app import create_app
    from numcheck.api.connections import guarded_protocol
    from numcheck.logs import configure_logging

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _settings(overrides=overrides)
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,  # numcheck.access logs requests without query strings
        log_config=None,
        timeout_graceful_shutdown=30,
        # httptools' parser and uvloop's event loop (where installed: "auto"): less of the
        # server's CPU per request than h11 on asyncio's loop (README, Benchmarks).
        http=guarded_protocol(settings.header_timeout_seconds, settings.max_connections),
        loop="auto",
    )


def worker() -> None:
    """Run checks for the servers sharing NUMCHECK_DATABASE_URL and NUMCHECK_BROKER_URL."""
    from numcheck import errors, worker_process
    from numcheck.logs import configure_logging
    from numcheck.storage import db as storage_db
    from numcheck.storage.stores import Stores
    from numcheck.tasks import catalog

    settings = _settings()
    if not settings.broker_url:
        output.fail(
            "no_broker", "set NUMCHECK_BROKER_URL (redis://… or amqp://…).", output.EXIT_USAGE
        )
    configure_logging(settings.log_level, settings.log_format)
    stores = Stores.open(settings)
    try:
        storage_db.prepare(stores.engine, embedded=False)
        catalog.check_registry_key(stores)
    except (storage_db.SchemaOutOfDate, errors.RegistryKeyMismatch) as exc:
        output.fail("not_ready", str(exc), output.EXIT_TASK_FAILED)
    finally:
        stores.close()
    # Replaced by a process that imports only what jobs need: its Celery children inherit it.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, worker_process.command())


def db_upgrade() -> None:
    """Bring the database (NUMCHECK_DATABASE_URL, or SQLite in the data dir) to this version."""
    from numcheck.storage import db
    from numcheck.storage.stores import Stores

    settings = _settings()
    output.note("numcheck: " + _where(settings))
    stores = Stores.open(settings)
    try:
        db.upgrade(stores.engine)
    finally:
        stores.close()
    output.note("Database schema is up to date.")


# -- keys -------------------------------------------------------------------------------------


def keys_create(
    user: UserOption,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create an API key (and the user when missing). The key is printed once: alone on the
    last line of stdout, or as `key` under --json."""
    from numcheck.accounts import audit, users
    from numcheck.services import accounts

    with _stores(as_json=as_json) as stores, stores.sessions.begin() as session:
        owner = accounts.create_user(
            session,
            user,
            actor=audit.cli_actor(),
            admin=admin,
            default_credits=stores.settings.default_credit_amount,
        )
        new_key = accounts.create_key(session, owner, actor=audit.cli_actor())
    role = users.role_of(owner)
    output.note(
        f"Created key {new_key.prefix} for {user} ({role}). Store it now: it is shown once."
    )
    if as_json:
        output.emit_json(
            {"prefix": new_key.prefix, "user": user, "role": role, "key": new_key.plaintext}
        )
    else:
        print(new_key.plaintext)


def keys_list(
    user: Annotated[
        str | None, typer.Option("--user", metavar="NAME", help="Only this user's keys.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List API keys (prefixes only; keys themselves are never stored)."""
    from numcheck.accounts import users
    from numcheck.services import accounts

    with _stores(reads_only=True, as_json=as_json) as stores, stores.sessions.begin() as session:
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
    output.table(
        ("prefix", "user", "role", "created", "last used", "revoked"), rows, as_json=as_json
    )


def keys_revoke(
    prefix: Annotated[
        str, typer.Argument(metavar="PREFIX", help="The key's prefix (see keys list).")
    ],
) -> None:
    """Revoke an API key at once."""
    from numcheck.accounts import audit
    from numcheck.services import accounts

    with _stores() as stores, stores.sessions.begin() as session:
        accounts.revoke_key(session, prefix, actor=audit.cli_actor())
    output.note(f"Revoked key {prefix}.")


# -- tasks, credits, audit --------------------------------------------------------------------


def tasks_list(
    user: Annotated[
        str | None, typer.Option("--user", metavar="NAME", help="Only this user's tasks.")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="How many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List every user's tasks from the database, newest first (yours over the API: list)."""
    from sqlalchemy import select

    from numcheck.accounts import users
    from numcheck.storage.models import Task, User

    with _stores(reads_only=True, as_json=as_json) as stores, stores.sessions.begin() as session:
        query = select(Task, User).join(User, User.id == Task.user_id)
        if user:
            query = query.where(Task.user_id == users.get_by_name(session, user).id)
        rows = [
            (
                task.id,
                owner.name,
                task.task_type,
                str(task.status),
                task.total,
                task.success,
                task.failure,
                _when(task.created_at),
            )
            for task, owner in session.execute(query.order_by(Task.created_at.desc()).limit(limit))
        ]
    output.table(
        ("task", "user", "type", "status", "total", "success", "failure", "created"),
        rows,
        as_json=as_json,
    )


def _show_credits(account: UserAccount, as_json: bool) -> None:
    output.table(
        ("user", "balance", "reserved", "charged this month"),
        [
            (
                account.user.name,
                "unlimited" if account.credits.unlimited else account.credits.balance,
                account.credits.reserved,
                account.credits.charged_this_month,
            )
        ],
        as_json=as_json,
    )


def credits_set(
    user: Annotated[str, typer.Argument(metavar="USER", help="User name.")],
    amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="Whole number, or 'unlimited'.")],
    as_json: JsonOption = False,
) -> None:
    """Set a user's available balance, or make them unlimited."""
    from numcheck.accounts import audit, credits
    from numcheck.services import accounts

    with _stores(as_json=as_json) as stores, stores.sessions.begin() as session:
        account = accounts.set_credits(
            session, user, credits.parse_amount(amount), actor=audit.cli_actor()
        )
    _show_credits(account, as_json)


def credits_grant(
    user: Annotated[str, typer.Argument(metavar="USER", help="User name.")],
    amount: Annotated[
        int, typer.Argument(metavar="AMOUNT", help="Credits to add to a metered balance.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Add credits to a metered user's balance (refused for an unlimited user)."""
    from numcheck.accounts import audit
    from numcheck.services import accounts

    with _stores(as_json=as_json) as stores, stores.sessions.begin() as session:
        account = accounts.grant_credits(session, user, amount, actor=audit.cli_actor())
    _show_credits(account, as_json)


def credits_show(
    user: Annotated[str, typer.Argument(metavar="USER", help="User name.")],
    as_json: JsonOption = False,
) -> None:
    """Balance, reserved credits and credits charged this month."""
    from numcheck.accounts import users
    from numcheck.services import accounts

    with _stores(reads_only=True, as_json=as_json) as stores, stores.sessions.begin() as session:
        account = accounts.describe(session, users.get_by_name(session, user))
    _show_credits(account, as_json)


def audit_list(
    limit: Annotated[int, typer.Option(metavar="N", help="How many entries, newest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The audit log: who created or revoked keys, granted credits, loaded registries, ..."""
    from numcheck.accounts import audit

    with _stores(reads_only=True, as_json=as_json) as stores, stores.sessions.begin() as session:
        rows = [
            (_when(entry.created_at), entry.actor, entry.action, entry.target, entry.details)
            for entry in audit.recent(session, limit)
        ]
    output.table(("when", "actor", "action", "target", "details"), rows, as_json=as_json)


# -- registries -------------------------------------------------------------------------------


def registry_load(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Registry name; it becomes a task_type.")
    ],
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, metavar="FILE", help="Text or CSV file."),
    ],
    column: Annotated[
        str | None, typer.Option(metavar="NAME", help="CSV: the header of the number column.")
    ] = None,
    add: Annotated[
        bool, typer.Option("--add", help="New version = current plus the file.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="New version = current minus the file.")
    ] = False,
    default_region: Annotated[
        str | None,
        typer.Option(metavar="REGION", help="Read national-format numbers as this region's (DE)."),
    ] = None,
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key",
            help="NUMCHECK_REGISTRY_KEY was changed on purpose: load in full under the new key, "
            "even while other registries still carry the old one.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Load a new version of a registry (a full load replaces it)."""
    from numcheck.accounts import audit
    from numcheck.numbers.compiled import validator
    from numcheck.services import registries as registry_service

    if add and remove:
        output.fail(
            "bad_usage", "choose --add or --remove, not both.", output.EXIT_USAGE, as_json=as_json
        )
    mode = "add" if add else "remove" if remove else "replace"
    with _stores(as_json=as_json) as stores:
        registry_service.check_name(name)
        validator.prepare(stores.settings.validator_cache_dir)
        load = registry_service.start_load(
            stores,
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
    output.table(
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
                report.version,
                report.mode,
                report.entries,
                report.numbers,
                report.duplicates,
                report.invalid,
                " ".join(map(str, report.invalid_lines)) if not as_json else report.invalid_lines,
            )
        ],
        as_json=as_json,
    )


def registry_list(as_json: JsonOption = False) -> None:
    """Registries, their current versions and how many users are granted each."""
    from numcheck.services import registries as registry_service

    with _stores(reads_only=True, as_json=as_json) as stores, stores.sessions.begin() as session:
        rows = [
            (
                registry.name,
                version.version if version else None,
                version.entries if version else None,
                _when(version.created_at) if version else None,
                granted,
            )
            for registry, version, granted in registry_service.listing(session)
        ]
    output.table(
        ("registry", "version", "entries", "loaded", "granted users"), rows, as_json=as_json
    )


def registry_delete(name: Annotated[str, typer.Argument(metavar="NAME")]) -> None:
    """Delete a registry (running tasks finish on the version they started with)."""
    from numcheck.accounts import audit
    from numcheck.services import registries as registry_service

    with _stores() as stores:
        registry_service.delete(stores, name, actor=audit.cli_actor())
    output.note(f"Deleted registry {name}.")


def registry_grant(name: Annotated[str, typer.Argument(metavar="NAME")], user: UserOption) -> None:
    """Let a user run this registry as a check."""
    from numcheck.accounts import audit
    from numcheck.services import registries as registry_service

    with _stores() as stores, stores.sessions.begin() as session:
        registry_service.grant(session, name, user, actor=audit.cli_actor())
    output.note(f"Granted {name} to {user}.")


def registry_revoke(name: Annotated[str, typer.Argument(metavar="NAME")], user: UserOption) -> None:
    """Take a registry away from a user."""
    from numcheck.accounts import audit
    from numcheck.services import registries as registry_service

    with _stores() as stores, stores.sessions.begin() as session:
        registry_service.revoke(session, name, user, actor=audit.cli_actor())
    output.note(f"Revoked {name} from {user}.")


def register(app: typer.Typer) -> None:
    panel = "Operator (works on the server's data dir)"
    app.command(rich_help_panel=panel, epilog=examples("numcheck serve --port 8080"))(
        _needs_server(serve)
    )
    app.command(
        rich_help_panel=panel,
        epilog=examples("NUMCHECK_DATABASE_URL=… NUMCHECK_BROKER_URL=redis://… numcheck worker"),
    )(_needs_server(worker))
    app.command(
        "tasks",
        rich_help_panel=panel,
        epilog=examples("numcheck tasks --user alice", "numcheck tasks --limit 500 --json"),
    )(_needs_server(tasks_list))
    app.command("audit", rich_help_panel=panel, epilog=examples("numcheck audit --limit 20"))(
        _needs_server(audit_list)
    )

    keys = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
    keys.command(
        "create",
        epilog=examples(
            "numcheck keys create --user alice", "numcheck keys create --user ops --admin --json"
        ),
    )(_needs_server(keys_create))
    keys.command("list", epilog=examples("numcheck keys list --user alice"))(
        _needs_server(keys_list)
    )
    keys.command("revoke", epilog=examples("numcheck keys revoke 3f9a1c2b"))(
        _needs_server(keys_revoke)
    )
    app.add_typer(keys, name="keys", rich_help_panel=panel)

    credits = typer.Typer(help="Credits: set, grant, show.", no_args_is_help=True)
    credits.command(
        "set",
        epilog=examples("numcheck credits set alice 10000", "numcheck credits set ops unlimited"),
    )(_needs_server(credits_set))
    credits.command("grant", epilog=examples("numcheck credits grant alice 5000"))(
        _needs_server(credits_grant)
    )
    credits.command("show", epilog=examples("numcheck credits show alice --json"))(
        _needs_server(credits_show)
    )
    app.add_typer(credits, name="credits", rich_help_panel=panel)

    registry = typer.Typer(
        help="Registries: sets of numbers you may query, stored as keyed hashes.",
        no_args_is_help=True,
    )
    registry.command(
        "load",
        epilog=examples(
            "numcheck registry load htx customers.txt",
            "numcheck registry load htx churned.csv --column phone --remove",
        ),
    )(_needs_server(registry_load))
    registry.command("list", epilog=examples("numcheck registry list --json"))(
        _needs_server(registry_list)
    )
    registry.command("delete", epilog=examples("numcheck registry delete htx"))(
        _needs_server(registry_delete)
    )
    registry.command("grant", epilog=examples("numcheck registry grant htx --user alice"))(
        _needs_server(registry_grant)
    )
    registry.command("revoke", epilog=examples("numcheck registry revoke htx --user alice"))(
        _needs_server(registry_revoke)
    )
    app.add_typer(registry, name="registry", rich_help_panel=panel)

    database = typer.Typer(help="The database schema.", no_args_is_help=True)
    database.command(
        "upgrade",
        epilog=examples("NUMCHECK_DATABASE_URL=postgresql+psycopg://… numcheck db upgrade"),
    )(_needs_server(db_upgrade))
    app.add_typer(database, name="db", rich_help_panel=panel)
