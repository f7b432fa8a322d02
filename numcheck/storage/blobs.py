"""The blob store: uploads, chunk parts and result zips, addressed by deterministic keys.

`BlobStore` is the interface; `LocalBlobStore` keeps files under the data dir. Writes are atomic
(a temporary file renamed into place), so a reader never sees half a blob and a crash leaves at
worst a temporary file that `sweep_temporaries` removes.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from numcheck.storage.secrets import make_private_dir

_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_.\-]*)*$")
_TMP_SUFFIX = ".tmp"


def upload_key(task_id: str) -> str:
    return f"uploads/{task_id}.txt"


def part_key(task_id: str, chunk: int, kind: str) -> str:
    """A chunk's `results` or `failed` rows, compressed (tasks/resultfile.py)."""
    return f"parts/{task_id}/{chunk:06d}.{kind}.z"


def parts_prefix(task_id: str) -> str:
    return f"parts/{task_id}"


def result_key(task_id: str) -> str:
    return f"results/{task_id}.zip"


class BlobStore(Protocol):
    """Where uploads, chunk parts, results and registry snapshots live. Two implementations,
    checked against the same cases (tests/integration/test_blob_stores.py): files below the
    data dir (`LocalBlobStore`) and S3 (`storage.s3.S3BlobStore`)."""

    def ping(self) -> None:
        """Raise when the store does not answer (the readiness probe)."""

    def writer(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A file to write `key`; published whole on success, nothing of it on error."""
        ...

    def open(self, key: str) -> BinaryIO:
        """Read `key` from its start; FileNotFoundError when missing."""
        ...

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of `key`; FileNotFoundError when missing."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Delete `key`; a missing key is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Delete every key under `prefix/`."""
        ...

    def local_path(self, key: str) -> Path:
        """A local file holding `key` (to memory-map or send); FileNotFoundError when missing."""
        ...

    def download_url(self, key: str, filename: str, ttl_seconds: int) -> str | None:
        """A URL the store itself serves `key` from (presigned), or None: the API signs its own."""
        ...

    def sweep_temporaries(self, older_than_seconds: float) -> int:
        """Remove what writers that died left behind, older than this; returns how many."""
        ...


def check_key(key: str) -> None:
    """Keys are built by numcheck only; anything else (`..`, odd characters) is refused."""
    if not _KEY.match(key) or ".." in key:
        raise ValueError("invalid blob key")


class LocalBlobStore:
    """Blobs as files below one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        make_private_dir(root)

    def path(self, key: str) -> Path:
        check_key(key)
        return self.root / key

    def ping(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError("the blob directory is missing")

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        final = self.path(key)
        self._make_dirs(final.parent)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}")
        try:
            # Owner-only whatever the umask: blobs are customers' numbers and their results.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

    def _make_dirs(self, directory: Path) -> None:
        """`directory` and its missing parents below the root, each 0700."""
        missing = []
        while directory != self.root and not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                continue  # another writer made it
            os.chmod(path, 0o700)

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def read_range(self, key: str, start: int, end: int) -> bytes:
        with open(self.path(key), "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def local_path(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def download_url(self, key: str, filename: str, ttl_seconds: int) -> None:
        return None  # served by the API's HMAC-signed /results route

    def sweep_temporaries(self, older_than_seconds: float) -> int:
        """Remove temporary files left by writers that died; returns how many."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for tmp in self.root.rglob(f"*{_TMP_SUFFIX}"):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed
