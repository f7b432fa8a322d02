"""The database and blob store of one process, opened from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from numcheck.config import Settings
from numcheck.storage import db
from numcheck.storage.blobs import BlobStore, LocalBlobStore


@dataclass
class Stores:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore

    @classmethod
    def open(cls, settings: Settings) -> Stores:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = db.make_engine(settings.db_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=db.session_factory(engine),
            blobs=LocalBlobStore(settings.blob_dir),
        )

    def close(self) -> None:
        self.engine.dispose()
