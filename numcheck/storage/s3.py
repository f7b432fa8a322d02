"""Blobs in S3 or any S3-compatible store (boto3): `NUMCHECK_STORAGE_URL=s3://bucket/prefix`.

Endpoint and credentials come from the standard AWS variables (`AWS_ENDPOINT_URL` for an
S3-compatible store). Writes spool to a local temporary file and upload on success (multipart
for large blobs), so nothing is held in memory and a failed write publishes nothing; chunk reads
are ranged GETs; result links are presigned GETs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from numcheck.storage.blobs import check_key

_MISSING = ("NoSuchKey", "404", "NotFound")


class S3BlobStore:
    def __init__(self, url: str, cache_dir: Path, client: Any | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("NUMCHECK_STORAGE_URL must look like s3://bucket/prefix")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        # SigV4: presigned URLs carry X-Amz-Expires and work with every current S3 region.
        self._s3 = client or boto3.client("s3", config=Config(signature_version="s3v4"))
        self._cache = cache_dir  # local copies of immutable blobs (registry snapshots)

    def ping(self) -> None:
        self._s3.head_bucket(Bucket=self.bucket)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def writer(self, key: str) -> Iterator[BinaryIO]:
        with tempfile.TemporaryFile() as spool:
            yield cast(BinaryIO, spool)
            spool.flush()
            spool.seek(0)
            self._s3.upload_fileobj(spool, self.bucket, self._key(key))

    def open(self, key: str) -> BinaryIO:
        try:
            return cast(
                BinaryIO, self._s3.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            )
        except ClientError as exc:
            raise _translate(exc, key) from None

    def read_range(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            response = self._s3.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
            )
        except ClientError as exc:
            raise _translate(exc, key) from None
        return cast(bytes, response["Body"].read())

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix) + "/"):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})

    def local_path(self, key: str) -> Path:
        """A local copy (for memory-mapping); fetched once, as the blobs it serves never change."""
        path = self._cache / key
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with (
                tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp,
                self.open(key) as body,
            ):
                shutil.copyfileobj(body, tmp, 1 << 20)
            Path(tmp.name).replace(path)
        return path

    def download_url(self, key: str, filename: str, ttl_seconds: int) -> str:
        """A presigned GET, served as an attachment, valid for `ttl_seconds`."""
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": "application/zip",
                "ResponseCacheControl": "no-store",
            },
            ExpiresIn=ttl_seconds,
        )
        return url

    def sweep_temporaries(self, older_than_seconds: float) -> int:
        """Nothing to sweep: a write that fails uploads nothing (multipart uploads it abandons
        are the bucket's lifecycle rules' to expire)."""
        return 0


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING


def _translate(exc: ClientError, key: str) -> Exception:
    return FileNotFoundError(key) if _is_missing(exc) else exc
