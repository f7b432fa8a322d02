"""Alembic revisions build the schema the models describe (no create_all anywhere)."""

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from numcheck.storage import db
from numcheck.storage.models import Base


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_upgrade_an_empty_database_to_head_matches_the_models(
    engine_name, tmp_path, request
) -> None:
    if engine_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = _fresh_postgres(request)
    engine = db.make_engine(url)
    assert not db.schema_is_current(engine)
    db.upgrade(engine)
    assert db.schema_is_current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    db.upgrade(engine)  # idempotent
    engine.dispose()


def _fresh_postgres(request: pytest.FixtureRequest) -> str:
    """An empty database of its own (the session's one is upgraded by the server fixture)."""
    import psycopg

    base = request.getfixturevalue("postgres_url").rsplit("/", 1)[0]
    name = f"numcheck_migrate_{uuid.uuid4().hex[:12]}"
    admin_url = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    request.addfinalizer(drop)
    return f"{base}/{name}"


def test_a_shared_database_is_never_upgraded_implicitly(request, tmp_path) -> None:
    from tests.helpers import Server, numcheck_cli

    url = _fresh_postgres(request)
    env = {"NUMCHECK_DATABASE_URL": url}
    refused = numcheck_cli(tmp_path / "data", "keys", "list", env=env)
    assert refused.returncode == 1 and "numcheck db upgrade" in refused.stderr
    server = Server(tmp_path / "data", env=env)
    with pytest.raises(RuntimeError, match="numcheck db upgrade"):
        server.start(timeout=20)
    assert numcheck_cli(tmp_path / "data", "db", "upgrade", env=env).returncode == 0
    assert numcheck_cli(tmp_path / "data", "keys", "list", env=env).returncode == 0


def test_tasks_made_before_several_checks_keep_their_check_and_registry_version(tmp_path) -> None:
    """0009: a task's one check and registry version move to the new shapes."""
    import json

    from alembic import command
    from sqlalchemy import text

    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(db._alembic_config(engine), "0008")
    facts = {"name": "htx", "registry_version": 3, "registry_entries": 10}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, name, is_admin, created_at, credits_unlimited, "
                "credit_balance, credits_reserved) VALUES ('u1', 'old', 0, '2026-01-01', 1, 0, 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO tasks (id, user_id, task_type, status, total, success, failure, "
                "chunk_count, chunks_done, check_facts, registry_version_id, created_at, "
                "updated_at) VALUES ('t1', 'u1', 'htx', 'processing', 1, 0, 0, 1, 0, :facts, 7, "
                "'2026-01-01', '2026-01-01')"
            ),
            {"facts": json.dumps(facts)},
        )
    db.upgrade(engine)
    with engine.connect() as connection:
        (stored,) = connection.execute(text("SELECT check_facts FROM tasks")).one()
        links = connection.execute(text("SELECT * FROM task_registry_versions")).all()
    assert json.loads(stored) == {
        "checks": [
            {
                "name": "htx",
                "facts": {"registry_version": 3, "registry_entries": 10},
                "registry_version_id": 7,
            }
        ]
    }
    assert [tuple(link) for link in links] == [("t1", 7)]
    engine.dispose()
