"""Alembic revisions build the schema the models describe (no create_all anywhere)."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from numcheck.storage import db
from numcheck.storage.models import Base


def test_upgrade_an_empty_database_to_head_matches_the_models(tmp_path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not db.schema_is_current(engine)
    db.upgrade(engine)
    assert db.schema_is_current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    db.upgrade(engine)  # idempotent
    engine.dispose()
