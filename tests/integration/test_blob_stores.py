"""Both blob stores keep one contract (BlobStore): the same cases run against files in a data
dir and against S3 (moto's standalone server), as warehouse checks its storages with
verifyClass."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from numcheck.storage.blobs import BlobStore, LocalBlobStore
from numcheck.storage.s3 import S3BlobStore
from tests.helpers import BUCKET


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    request.getfixturevalue("s3_endpoint")
    yield S3BlobStore(f"s3://{BUCKET}/conformance-{uuid.uuid4().hex[:8]}", tmp_path / "cache")


def write(store: BlobStore, key: str, data: bytes) -> None:
    with store.writer(key) as out:
        out.write(data)


def test_written_blobs_read_back_whole_and_by_range(store: BlobStore) -> None:
    write(store, "uploads/abc.txt", b"0123456789")
    assert store.exists("uploads/abc.txt")
    with store.open("uploads/abc.txt") as handle:
        assert handle.read() == b"0123456789"
    assert store.read_range("uploads/abc.txt", 2, 5) == b"234"
    assert store.read_range("uploads/abc.txt", 5, 5) == b""
    assert store.local_path("uploads/abc.txt").read_bytes() == b"0123456789"
    write(store, "uploads/abc.txt", b"new")  # a rewrite replaces the whole blob
    with store.open("uploads/abc.txt") as handle:
        assert handle.read() == b"new"


def test_a_failed_write_publishes_nothing(store: BlobStore) -> None:
    with pytest.raises(RuntimeError), store.writer("results/abc.zip") as out:
        out.write(b"half a zip")
        raise RuntimeError("the writer died")
    assert not store.exists("results/abc.zip")
    with pytest.raises(FileNotFoundError):
        store.open("results/abc.zip")


def test_missing_blobs(store: BlobStore) -> None:
    assert not store.exists("parts/none/000000.results.csv")
    for read in (
        lambda: store.open("parts/none/000000.results.csv"),
        lambda: store.read_range("parts/none/000000.results.csv", 0, 10),
        lambda: store.local_path("parts/none/000000.results.csv"),
    ):
        with pytest.raises(FileNotFoundError):
            read()
    store.delete("parts/none/000000.results.csv")  # deleting nothing is not an error
    store.delete_prefix("parts/none")


def test_delete_and_delete_prefix(store: BlobStore) -> None:
    for name in ("000000.results.csv", "000001.results.csv"):
        write(store, f"parts/task1/{name}", b"x")
    write(store, "parts/task2/000000.results.csv", b"y")
    store.delete_prefix("parts/task1")
    assert not store.exists("parts/task1/000000.results.csv")
    assert not store.exists("parts/task1/000001.results.csv")
    assert store.exists("parts/task2/000000.results.csv")
    store.delete("parts/task2/000000.results.csv")
    assert not store.exists("parts/task2/000000.results.csv")


@pytest.mark.parametrize("key", ["../escape", "/absolute", "uploads/../x", "Upper/case", ""])
def test_keys_not_made_by_numcheck_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.exists(key)


def test_download_urls_and_temporaries(store: BlobStore) -> None:
    write(store, "results/abc.zip", b"zip")
    url = store.download_url("results/abc.zip", "abc.zip", 60)
    if isinstance(store, LocalBlobStore):
        assert url is None  # the API signs its own links
    else:
        assert url is not None and "X-Amz-Expires=60" in url
    assert store.sweep_temporaries(older_than_seconds=0) == 0  # nothing died half-way
