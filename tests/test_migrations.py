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
