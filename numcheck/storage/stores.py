"""The database and blob store of one process, opened from settings."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from numcheck.config import Settings
from numcheck.storage import db
from numcheck.storage.blobs import BlobStore, LocalBlobStore
from numcheck.storage.secrets import make_private_dir


def _blob_store(settings: Settings) -> BlobStore:
    if settings.storage_url:
        from numcheck.storage.s3 import S3BlobStore

        return S3BlobStore(settings.storage_url, settings.data_dir.resolve() / "s3-cache")
    return LocalBlobStore(settings.blob_dir)


@dataclass
class Stores:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings) -> Stores:
        make_private_dir(settings.data_dir)
        if settings.embedded_database:
            db.create_private_sqlite_file(settings.sqlite_path)
        engine = db.make_engine(settings.db_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=db.session_factory(engine),
            blobs=_blob_store(settings),
        )

    @functools.cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions for transactions that only read (see `db.read_only_sessions`)."""
        return db.read_only_sessions(self.engine)

    def close(self) -> None:
        self.engine.dispose()
